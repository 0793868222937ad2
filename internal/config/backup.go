package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// BackupTarget is where backups go, from backup.to: a bucket (and a prefix in it) or a directory.
type BackupTarget struct {
	Dir            string
	Bucket, Prefix string
	Region         string
}

func (t BackupTarget) String() string {
	if t.Dir != "" {
		return t.Dir
	}
	return "cos://" + t.Bucket + "/" + t.Prefix
}

var appIDRE5 = regexp.MustCompile(`-([0-9]{5,})$`)

// BackupBucket is the private bucket provision makes for a deployment's backups, beside the album's
// bucket (same account, so the same appid); "" when there is no album bucket to take the appid from.
func (c *Config) BackupBucket() string {
	m := appIDRE5.FindStringSubmatch(c.COS.Bucket)
	if m == nil || !bucketRE.MatchString(c.COS.Bucket) {
		return ""
	}
	return c.Deployment + "-backup-" + m[1]
}

// Backups resolves backup.to. forWrite refuses, when a domain is set, a directory: on a deployment it
// is the instance's own disk, which a backup must survive (a restore drill reads a directory anywhere).
func (c *Config) Backups(forWrite bool) (BackupTarget, error) {
	to := strings.TrimSpace(c.Backup.To)
	region := c.COS.Region
	if region == "" {
		region = c.TencentCloud.Region
	}
	switch {
	case to == "" && c.Domain == "":
		return BackupTarget{Dir: filepath.Join(c.DataDir, "backups")}, nil
	case to == "":
		b := c.BackupBucket()
		if b == "" {
			return BackupTarget{}, &Error{Key: "backup.to", Reason: "a deployment's backups need a bucket, and cos.bucket gives no appid to name one after",
				Fix: "set backup.to: cos://<name>-<appid> (a private bucket), or cos.bucket"}
		}
		return BackupTarget{Bucket: b, Region: region}, nil
	case strings.HasPrefix(to, "cos://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(to, "cos://"), "/")
		if !bucketRE.MatchString(bucket) {
			return BackupTarget{}, &Error{Key: "backup.to", Value: to, Reason: "not a COS bucket name", Fix: "write cos://<name>-<appid>[/prefix], e.g. cos://shop-backup-1250000000"}
		}
		if region == "" {
			return BackupTarget{}, &Error{Key: "backup.to", Value: to, Reason: "the bucket's region is unknown", Fix: "set cos.region (or tencentcloud.region)"}
		}
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		return BackupTarget{Bucket: bucket, Prefix: prefix, Region: region}, nil
	case forWrite && c.Domain != "":
		return BackupTarget{}, &Error{Key: "backup.to", Value: to, Reason: "a directory on the instance would be lost with the instance",
			Fix: fmt.Sprintf("leave backup.to empty for the deployment's backup bucket (%s), or name a bucket: cos://<name>-<appid>", orNone(c.BackupBucket()))}
	}
	return BackupTarget{Dir: to}, nil
}

func orNone(s string) string {
	if s == "" {
		return "needs cos.bucket"
	}
	return "cos://" + s
}

// VideoSQLitePath is the embedded video database's file.
func (c *Config) VideoSQLitePath() string {
	if c.Video.SQLitePath != "" {
		return c.Video.SQLitePath
	}
	return filepath.Join(c.DataDir, "video.db")
}

// SessionDBPath is the embedded drawing store's file.
func (c *Config) SessionDBPath() string { return filepath.Join(c.DataDir, "session.db") }

// BackupPlan is what a backup of this configuration covers, and with which key it reaches the target,
// in plain values for the backup constructor.
type BackupPlan struct {
	Target  BackupTarget
	KeyFile string
	// Exactly one of MySQLDSN and VideoSQLite, of MongoURI and DrawingsSQLite; AlbumDir when the album
	// is on local disk.
	MySQLDSN, VideoSQLite    string
	MongoURI, MongoDatabase  string
	DrawingsSQLite, AlbumDir string
	COSEndpoint              string
	// Role: sign with the instance role (a host: the role may use the backup bucket, an album key
	// may not); otherwise with SecretID/SecretKey, the account's key when there is one.
	Role                bool
	MetadataURL         string
	SecretID, SecretKey string
}

// Backup resolves what `applet backup` and `applet restore` work on.
func (c *Config) BackupPlan(forWrite bool) (BackupPlan, error) {
	to, err := c.Backups(forWrite)
	if err != nil {
		return BackupPlan{}, err
	}
	p := BackupPlan{Target: to, KeyFile: c.Backup.EncryptionKeyFile, MySQLDSN: c.MySQL.DSN, MongoURI: c.Mongo.URI, MongoDatabase: c.Mongo.Database,
		COSEndpoint: c.COS.Endpoint, Role: c.COS.InstanceRole, MetadataURL: c.COS.MetadataURL, SecretID: c.TencentCloud.SecretID, SecretKey: c.TencentCloud.SecretKey}
	if p.SecretID == "" {
		p.SecretID, p.SecretKey = c.COSKey()
	}
	if p.MySQLDSN == "" {
		p.VideoSQLite = c.VideoSQLitePath()
	}
	if p.MongoURI == "" {
		p.DrawingsSQLite = c.SessionDBPath()
	}
	if c.COS.Bucket == "" {
		p.AlbumDir = filepath.Join(c.DataDir, "album")
	}
	return p, nil
}
