// Package mongo keeps drawings in MongoDB (official driver v2): database qcloud-applet-session,
// collection paints, documents {openId, id, actions, updatedAt} with a unique index on (openId, id).
package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/qcloud-applet/applet/serve/session"
)

// Collection is the original's.
const Collection = "paints"

// Drawings implements session.DrawingStore.
type Drawings struct {
	client  *mongo.Client
	coll    *mongo.Collection
	timeout time.Duration
}

var _ session.DrawingStore = (*Drawings)(nil)

// Open connects lazily to uri (the driver dials on first use), so serve starts while MongoDB is down.
// The index is made on first use and again until it succeeds.
func Open(uri, database string, timeout time.Duration) (*Drawings, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	opts := options.Client().ApplyURI(uri).SetServerSelectionTimeout(timeout).SetConnectTimeout(timeout).SetTimeout(timeout)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	return &Drawings{client: client, coll: client.Database(database).Collection(Collection), timeout: timeout}, nil
}

func (d *Drawings) fail(op string, err error) error {
	if mongo.IsTimeout(err) || mongo.IsNetworkError(err) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "server selection") {
		return fmt.Errorf("mongo: %s: %w: %v", op, session.ErrUnavailable, err)
	}
	return fmt.Errorf("mongo: %s: %w", op, err)
}

// EnsureIndex makes the unique (openId, id) index: it is what keeps users' drawings apart.
func (d *Drawings) EnsureIndex(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, err := d.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "openId", Value: 1}, {Key: "id", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("openId_id"),
	})
	if err != nil {
		return d.fail("creating the (openId, id) index", err)
	}
	return nil
}

type doc struct {
	OpenID    string    `bson:"openId"`
	ID        string    `bson:"id"`
	Actions   string    `bson:"actions"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

// List implements session.DrawingStore.
func (d *Drawings) List(ctx context.Context, openID string) ([]session.Drawing, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	cur, err := d.coll.Find(ctx, bson.D{{Key: "openId", Value: openID}},
		options.Find().SetSort(bson.D{{Key: "updatedAt", Value: -1}, {Key: "id", Value: 1}}))
	if err != nil {
		return nil, d.fail("listing drawings", err)
	}
	defer cur.Close(ctx)
	out := []session.Drawing{}
	for cur.Next(ctx) {
		var x doc
		if err := cur.Decode(&x); err != nil {
			return nil, d.fail("listing drawings", err)
		}
		out = append(out, session.Drawing{ID: x.ID, Actions: x.Actions, Updated: x.UpdatedAt})
	}
	if err := cur.Err(); err != nil {
		return nil, d.fail("listing drawings", err)
	}
	return out, nil
}

// Save implements session.DrawingStore: an upsert filtered by (openId, id), so it can only ever touch
// the caller's own drawing. Values are bound as values, never parsed as query operators.
func (d *Drawings) Save(ctx context.Context, openID string, dr session.Drawing) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, err := d.coll.UpdateOne(ctx,
		bson.D{{Key: "openId", Value: openID}, {Key: "id", Value: dr.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "actions", Value: dr.Actions}, {Key: "updatedAt", Value: now}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return d.fail("saving a drawing", err)
	}
	return nil
}

// Delete implements session.DrawingStore.
func (d *Drawings) Delete(ctx context.Context, openID, id string) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	res, err := d.coll.DeleteOne(ctx, bson.D{{Key: "openId", Value: openID}, {Key: "id", Value: id}})
	if err != nil {
		return d.fail("deleting a drawing", err)
	}
	if res.DeletedCount == 0 {
		return session.ErrNotFound
	}
	return nil
}

// Ready implements session.DrawingStore: the server answers and the index exists.
func (d *Drawings) Ready(ctx context.Context) error { return d.EnsureIndex(ctx) }

// Close implements session.DrawingStore.
func (d *Drawings) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	return d.client.Disconnect(ctx)
}

// Ping asks the server for an answer within the timeout.
func (d *Drawings) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return d.client.Ping(ctx, nil)
}
