package wire

import (
	"github.com/qcloud-applet/applet/backup/setup"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/serve/mongo"
)

// Backups turns the configuration's backup plan into the backups' constructor options.
func Backups(p config.BackupPlan) setup.Options {
	t := p.Target
	o := setup.Options{Dir: t.Dir, Bucket: t.Bucket, Prefix: t.Prefix, Region: t.Region, COSEndpoint: p.COSEndpoint, KeyFile: p.KeyFile,
		Credentials: rolecred.Static{ID: p.SecretID, Key: p.SecretKey}}
	if p.Role {
		o.Credentials = &rolecred.Provider{Endpoint: p.MetadataURL}
	}
	o.MySQLDSN, o.VideoSQLite, o.DrawingsSQLite, o.AlbumDir = p.MySQLDSN, p.VideoSQLite, p.DrawingsSQLite, p.AlbumDir
	o.MongoURI, o.MongoDatabase, o.MongoCollection = p.MongoURI, p.MongoDatabase, mongo.Collection
	return o
}
