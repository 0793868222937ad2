package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/qcloud-applet/applet/backup"
	"github.com/qcloud-applet/applet/backup/setup"
	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/internal/rolecred"
	"github.com/qcloud-applet/applet/provision/tencent"
)

// backups opens where the deployment's backups are: with the instance role on the host, with the
// account key elsewhere. No store is opened: these checks only read the target.
func (d *env) backups() (*setup.Backups, string, error) {
	to, err := d.c.Backups(false)
	if err != nil {
		return nil, "", err
	}
	o := setup.Options{Dir: to.Dir, Bucket: to.Bucket, Prefix: to.Prefix, Region: to.Region, COSEndpoint: d.c.COS.Endpoint}
	if to.Bucket != "" {
		if d.c.COS.InstanceRole {
			o.Credentials = &rolecred.Provider{Endpoint: d.c.COS.MetadataURL}
		} else {
			home, _ := os.UserHomeDir()
			if h := d.env("HOME"); h != "" {
				home = h
			}
			creds, err := tencent.LoadCredentials(d.env, home, tencent.Credentials{SecretID: d.c.TencentCloud.SecretID, SecretKey: d.c.TencentCloud.SecretKey})
			if err != nil {
				return nil, to.String(), fmt.Errorf("no key to read the backups with: %w", err)
			}
			o.Credentials = rolecred.Static{ID: creds.SecretID, Key: creds.SecretKey}
		}
	}
	b, err := setup.Open(o)
	return b, to.String(), err
}

// checkBackupAge: the newest backup is younger than backup.max_age.
func (d *env) checkBackupAge(ctx context.Context) Result {
	b, where, err := d.backups()
	if err != nil {
		return backupUnreadable(err)
	}
	defer b.Close()
	m, err := b.Load(ctx, "latest")
	switch {
	case errors.Is(err, backup.ErrNotFound) && !d.deployed():
		return Skip(localSkip + ": no backup in " + where + " yet (applet backup makes one)")
	case errors.Is(err, backup.ErrNotFound):
		return Warning("no backup in "+where, "run applet provision (it installs the daily backup timer), or applet backup on the instance")
	case err != nil:
		return backupUnreadable(err)
	}
	age := time.Since(m.Created)
	observed := fmt.Sprintf("the last backup, %s, is %s old (%s of data) in %s", m.ID, setup.Age(age), backup.Bytes(m.Size), where)
	if age > d.c.Backup.MaxAge {
		return Warning(observed+fmt.Sprintf(", past backup.max_age (%s)", d.c.Backup.MaxAge),
			"on the instance: systemctl status applet-backup.timer; journalctl -u applet-backup says why it failed; applet backup runs one now")
	}
	return Ok(observed)
}

// checkBackupVerify: the last verify passed.
func (d *env) checkBackupVerify(ctx context.Context) Result {
	b, where, err := d.backups()
	if err != nil {
		return backupUnreadable(err)
	}
	defer b.Close()
	st, err := b.LastVerify(ctx)
	switch {
	case err != nil:
		return backupUnreadable(err)
	case st == nil && !d.deployed():
		return Skip(localSkip + ": no verify has run")
	case st == nil:
		return Warning("no backup in "+where+" was ever verified", "applet backup verify (the daily timer verifies each new backup)")
	case !st.OK:
		return Failed(fmt.Sprintf("the last verify, %s ago, failed: %s", setup.Age(time.Since(st.Time)), st.Error),
			"applet backup (a new backup stores the damaged parts again), then applet backup verify")
	}
	return Ok(fmt.Sprintf("the last verify passed %s ago (%d backups)", setup.Age(time.Since(st.Time)), len(st.Backups)))
}

func backupUnreadable(err error) Result {
	var ce *config.Error
	if errors.As(err, &ce) {
		return Failed(err.Error(), ce.Fix)
	}
	return Failed("cannot read the backups: "+err.Error(), "check backup.to and the key that reads it (the instance role on the host)")
}
