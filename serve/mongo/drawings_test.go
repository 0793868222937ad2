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

// Two instances share one database, each with its cache: a user's change through one shows through
// it at once, and through the other within DrawingsFresh.
func TestMongoDrawingsCachedOnTwoInstances(t *testing.T) {
	db := testenv.Unique("applet_test_")
	open := func() *session.CachedDrawings {
		d, err := mongo.Open(testenv.MongoURI(t), db, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.EnsureIndex(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := session.NewCachedDrawings(d, session.DrawingsFresh)
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := open(), open()
	ctx := t.Context()
	if l, err := b.List(ctx, "u"); err != nil || len(l) != 0 { // b now holds the empty list
		t.Fatal(l, err)
	}
	if err := a.Save(ctx, "u", session.Drawing{ID: "d1", Actions: "[]"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := a.List(ctx, "u"); len(l) != 1 {
		t.Fatalf("the instance that saved does not show it: %v", l)
	}
	saved := time.Now()
	for {
		l, err := b.List(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		if len(l) == 1 {
			break
		}
		if time.Since(saved) > session.DrawingsFresh+500*time.Millisecond {
			t.Fatalf("the other instance still shows the old list after %v", time.Since(saved))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
