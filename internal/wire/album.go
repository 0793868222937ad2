package wire

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/hint"
	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/serve"
	"github.com/qcloud-applet/applet/serve/album"
	"github.com/qcloud-applet/applet/serve/cos"
	"github.com/qcloud-applet/applet/serve/disk"
	"github.com/qcloud-applet/applet/serve/session"
)

// newAlbumApp stores images in COS when cos.bucket is set, on local disk otherwise. With
// album.owner_check or wechat.content_check it signs users in through the shared session parts.
func newAlbumApp(w *Wiring, log *slog.Logger) (serve.App, error) {
	cfg := w.cfg
	maxUploads := cfg.Album.MaxUploads
	if maxUploads == 0 {
		maxUploads = w.Budgets.Uploads()
	}
	opts := album.Options{MaxUploads: maxUploads, MaxUploadsPerClient: cfg.Album.MaxUploadsPerClient, Writes: w.writes, Proxies: w.proxies,
		Logger: log, Folder: cfg.Album.Folder, MaxUploadMB: cfg.Album.MaxUploadMB, AllowGIF: cfg.Album.AllowGIF, AllowWebP: cfg.Album.AllowWebP,
		PublicURL: cfg.Album.PublicURL}
	if cfg.COS.Bucket != "" {
		s, err := cos.New(cosConfig(cfg))
		if err != nil {
			return nil, hint.New(err, "set cos.secret_id and cos.secret_key (a key limited to the bucket), or cos.instance_role: true on an instance with a CAM role")
		}
		opts.Storage, opts.SpoolDir = s, filepath.Join(cfg.DataDir, "spool")
		log.Info("album credentials for COS", "source", cfg.COSCredentials())
	} else {
		s, err := disk.New(filepath.Join(cfg.DataDir, "album"))
		if err != nil {
			return nil, fmt.Errorf("album: %w", err)
		}
		opts.Storage, opts.SpoolDir = s, s.SpoolDir()
	}
	if cfg.Album.OwnerCheck {
		parts, err := w.session()
		if err != nil {
			return nil, err
		}
		opts.OwnerCheck, opts.Auth, opts.Owner = true, parts.Middleware.Wrap, parts.Owner
	}
	if err := w.withContentCheck(func(cc *session.ContentCheck) {
		opts.Auth, opts.Owner, opts.CheckImage, opts.Push = cc.Wrap, cc.Owner, cc.Image, cc.Push(cfg.WeChat.PushToken)
	}); err != nil {
		return nil, err
	}
	app, err := album.New(opts)
	if err != nil {
		return nil, fmt.Errorf("album: %w", err)
	}
	return app, nil
}

// cosConfig signs with the credentials config.COSCredentials names.
func cosConfig(cfg *config.Config) cos.Config {
	c := cos.Config{Bucket: cfg.COS.Bucket, Region: cfg.COS.Region, PublicDomain: cfg.COS.PublicDomain, Endpoint: cfg.COS.Endpoint}
	if cfg.COSCredentials() == config.COSKeyRole {
		c.Credentials = &rolecred.Provider{Endpoint: cfg.COS.MetadataURL}
	} else {
		c.SecretID, c.SecretKey = cfg.COSKey()
	}
	return c
}
