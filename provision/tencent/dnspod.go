package tencent

import (
	"context"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	dnspod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/dnspod/v20210323"

	"github.com/qcloud-applet/applet/provision"
)

// DefaultLine is DNSPod's default resolution line.
const DefaultLine = "默认"

// DNS is provision.DNS on DNSPod.
type DNS struct{ c *Client }

var _ provision.DNS = (*DNS)(nil)

// DNS returns the DNSPod side of the client.
func (c *Client) DNS() *DNS { return &DNS{c} }

func (d *DNS) op(action, zone string, write bool) op {
	return op{service: "dnspod", action: action, write: write, where: zone}
}

// Records returns the zone's records with the name and type; none is an empty slice, not an error.
func (d *DNS) Records(ctx context.Context, zone, name, typ string) ([]provision.Record, error) {
	req := dnspod.NewDescribeRecordListRequest()
	req.Domain = common.StringPtr(zone)
	req.Subdomain = common.StringPtr(name)
	if typ != "" {
		req.RecordType = common.StringPtr(typ)
	}
	var resp *dnspod.DescribeRecordListResponse
	err := d.c.do(ctx, d.op("DescribeRecordList", zone, false), func(ctx context.Context) (err error) {
		resp, err = d.c.dnspod.DescribeRecordListWithContext(ctx, req)
		return err
	})
	if isCode(err, "ResourceNotFound.NoDataOfRecord") {
		return []provision.Record{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []provision.Record{}
	for _, r := range resp.Response.RecordList {
		// Subdomain is a filter on the name, but be exact: the API matches loosely for some plans.
		if !strings.EqualFold(str(r.Name), name) {
			continue
		}
		rec := provision.Record{Name: str(r.Name), Type: str(r.Type), Value: str(r.Value), Remark: str(r.Remark)}
		if r.RecordId != nil {
			rec.ID = *r.RecordId
		}
		if r.TTL != nil {
			rec.TTL = int(*r.TTL)
		}
		out = append(out, rec)
	}
	return out, nil
}

// CreateRecord adds a record on the default line. A record that already exists is found and returned.
func (d *DNS) CreateRecord(ctx context.Context, zone string, r provision.Record) (uint64, error) {
	req := dnspod.NewCreateRecordRequest()
	req.Domain = common.StringPtr(zone)
	req.SubDomain = common.StringPtr(r.Name)
	req.RecordType = common.StringPtr(r.Type)
	req.RecordLine = common.StringPtr(DefaultLine)
	req.Value = common.StringPtr(r.Value)
	if r.TTL > 0 {
		req.TTL = common.Uint64Ptr(uint64(r.TTL))
	}
	if r.Remark != "" {
		req.Remark = common.StringPtr(r.Remark)
	}
	var resp *dnspod.CreateRecordResponse
	create := func(ctx context.Context) (err error) {
		resp, err = d.c.dnspod.CreateRecordWithContext(ctx, req)
		return err
	}
	err := d.c.do(ctx, d.op("CreateRecord", zone, true), create)
	if isCode(err, "InvalidParameter.DomainRecordExist") || Ambiguous(err) {
		// An earlier attempt got through: use the record it made rather than failing or duplicating.
		recs, lerr := d.Records(ctx, zone, r.Name, r.Type)
		if lerr != nil {
			return 0, lerr
		}
		for _, x := range recs {
			if x.Value == r.Value {
				return x.ID, nil
			}
		}
		if Ambiguous(err) { // the answer was lost before the record was made: make it now
			err = d.c.do(ctx, d.op("CreateRecord", zone, true), create)
			if err == nil {
				return *resp.Response.RecordId, nil
			}
		}
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	return *resp.Response.RecordId, nil
}

// ModifyRecord rewrites a record in place.
func (d *DNS) ModifyRecord(ctx context.Context, zone string, r provision.Record) error {
	req := dnspod.NewModifyRecordRequest()
	req.Domain = common.StringPtr(zone)
	req.RecordId = common.Uint64Ptr(r.ID)
	req.SubDomain = common.StringPtr(r.Name)
	req.RecordType = common.StringPtr(r.Type)
	req.RecordLine = common.StringPtr(DefaultLine)
	req.Value = common.StringPtr(r.Value)
	if r.TTL > 0 {
		req.TTL = common.Uint64Ptr(uint64(r.TTL))
	}
	if r.Remark != "" {
		req.Remark = common.StringPtr(r.Remark)
	}
	o := d.op("ModifyRecord", zone, true)
	o.idempotent = true
	return d.c.do(ctx, o, func(ctx context.Context) error {
		_, err := d.c.dnspod.ModifyRecordWithContext(ctx, req)
		return err
	})
}

// DeleteRecord removes a record; one already gone is not an error.
func (d *DNS) DeleteRecord(ctx context.Context, zone string, id uint64) error {
	req := dnspod.NewDeleteRecordRequest()
	req.Domain = common.StringPtr(zone)
	req.RecordId = common.Uint64Ptr(id)
	o := d.op("DeleteRecord", zone, true)
	o.idempotent = true
	err := d.c.do(ctx, o, func(ctx context.Context) error {
		_, err := d.c.dnspod.DeleteRecordWithContext(ctx, req)
		return err
	})
	if isCode(err, "InvalidParameter.RecordIdInvalid") {
		return nil
	}
	return err
}
