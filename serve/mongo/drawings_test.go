package mongo_test

import (
	"testing"
	"time"

	"github.com/qcloud-applet/applet/internal/testenv"
	"github.com/qcloud-applet/applet/serve/mongo"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func TestMongoDrawings(t *testing.T) {
	storetest.RunDrawingStore(t, func(t *testing.T) session.DrawingStore {
		d, err := mongo.Open(testenv.MongoURI(t), testenv.Unique("applet_test_"), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.EnsureIndex(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}
