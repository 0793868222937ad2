package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve/session"
)

func newSession(id, openID string, ttl time.Duration) session.Session {
	now := time.Now()
	return session.Session{ID: id, OpenID: openID, SessionKey: "key-" + id, UserInfo: json.RawMessage(`{"nickName":"小明 🐼","openId":"` + openID + `"}`), Created: now, Expires: now.Add(ttl)}
}

// RunSessionStore checks the contract documented on session.Store. newStore returns an empty store;
// ids are unique per test so that stores sharing a server do not collide.
func RunSessionStore(t *testing.T, newStore func(t *testing.T) session.Store) {
	ctx := context.Background()
	uniq := func(s string) string { return fmt.Sprintf("%s-%d", s, time.Now().UnixNano()) }

	t.Run("PutGetDelete", func(t *testing.T) {
		s := newStore(t)
		in := newSession(uniq("code"), uniq("o"), time.Hour)
		if err := s.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != in.ID || got.OpenID != in.OpenID || got.SessionKey != in.SessionKey || string(got.UserInfo) != string(in.UserInfo) || !got.Expires.Equal(in.Expires) {
			t.Fatalf("got %+v\nwant %+v", got, in)
		}
		if err := s.Delete(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, in.ID); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.Delete(ctx, in.ID); err != nil {
			t.Fatalf("deleting a missing session: %v", err)
		}
		if _, err := s.Get(ctx, uniq("never")); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
	})

	t.Run("OneLiveSessionPerOpenID", func(t *testing.T) {
		s := newStore(t)
		open := uniq("o")
		first, second := newSession(uniq("code1"), open, time.Hour), newSession(uniq("skey2"), open, time.Hour)
		other := newSession(uniq("code3"), uniq("someone-else"), time.Hour)
		for _, x := range []session.Session{first, other, second} {
			if err := s.Put(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Get(ctx, first.ID); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("the older session of the same openId still works: %v", err)
		}
		if _, err := s.Get(ctx, second.ID); err != nil {
			t.Fatalf("newest session: %v", err)
		}
		if _, err := s.Get(ctx, other.ID); err != nil {
			t.Fatalf("another user's session was touched: %v", err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s := newStore(t)
		short := newSession(uniq("code"), uniq("o"), 300*time.Millisecond)
		if err := s.Put(ctx, short); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, short.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		if _, err := s.Get(ctx, short.ID); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("expired session: %v", err)
		}
	})

	t.Run("ConcurrentLoginsOfOneUser", func(t *testing.T) {
		s := newStore(t)
		open := uniq("o")
		var wg sync.WaitGroup
		ids := make([]string, 20)
		for i := range ids {
			ids[i] = uniq(fmt.Sprintf("c%d", i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Put(ctx, newSession(ids[i], open, time.Hour)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		live := 0
		for _, id := range ids {
			if _, err := s.Get(ctx, id); err == nil {
				live++
			}
		}
		if live != 1 {
			t.Fatalf("%d live sessions for one openId after concurrent logins, want 1", live)
		}
	})

	t.Run("Ready", func(t *testing.T) {
		if err := newStore(t).Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// RunDrawingStore checks the contract documented on session.DrawingStore.
func RunDrawingStore(t *testing.T, newStore func(t *testing.T) session.DrawingStore) {
	ctx := context.Background()
	uniq := func(s string) string { return fmt.Sprintf("%s-%d", s, time.Now().UnixNano()) }

	t.Run("SaveListDelete", func(t *testing.T) {
		s := newStore(t)
		me := uniq("me")
		if list, err := s.List(ctx, me); err != nil || list == nil || len(list) != 0 {
			t.Fatalf("empty list = %v (nil %v), %v", list, list == nil, err)
		}
		actions := `[{"type":"move","x":1.5,"y":2},{"type":"line","color":"#ff0000","text":"画 🎨"}]`
		if err := s.Save(ctx, me, session.Drawing{ID: "a", Actions: actions}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if err := s.Save(ctx, me, session.Drawing{ID: "b", Actions: `[]`}); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, me)
		if err != nil || len(list) != 2 || list[0].ID != "b" || list[1].ID != "a" || list[1].Actions != actions {
			t.Fatalf("list = %+v, %v; want b then a, actions byte for byte", list, err)
		}
		// Saving again replaces and moves it to the front.
		time.Sleep(5 * time.Millisecond)
		if err := s.Save(ctx, me, session.Drawing{ID: "a", Actions: `[1]`}); err != nil {
			t.Fatal(err)
		}
		list, _ = s.List(ctx, me)
		if len(list) != 2 || list[0].ID != "a" || list[0].Actions != `[1]` {
			t.Fatalf("after re-save: %+v", list)
		}
		if err := s.Delete(ctx, me, "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, me, "a"); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if list, _ := s.List(ctx, me); len(list) != 1 || list[0].ID != "b" {
			t.Fatalf("after delete: %+v", list)
		}
	})

	t.Run("UsersAreKeptApart", func(t *testing.T) {
		s := newStore(t)
		alice, mallory := uniq("alice"), uniq("mallory")
		if err := s.Save(ctx, alice, session.Drawing{ID: "same-id", Actions: `["alice"]`}); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, mallory, session.Drawing{ID: "same-id", Actions: `["mallory"]`}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, mallory, "same-id"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, mallory, "same-id"); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("mallory deleted twice: %v", err)
		}
		list, err := s.List(ctx, alice)
		if err != nil || len(list) != 1 || list[0].Actions != `["alice"]` {
			t.Fatalf("alice's drawing after mallory used its id: %+v, %v", list, err)
		}
	})

	t.Run("OperatorLikeValuesAreData", func(t *testing.T) {
		s := newStore(t)
		me := uniq("me")
		for _, id := range []string{`{"$gt":""}`, "$where", "a.b", strings.Repeat("x", 128)} {
			if err := s.Save(ctx, me, session.Drawing{ID: id, Actions: `[]`}); err != nil {
				t.Fatalf("id %q: %v", id, err)
			}
		}
		list, err := s.List(ctx, me)
		if err != nil || len(list) != 4 {
			t.Fatalf("list = %d, %v", len(list), err)
		}
		if list, _ := s.List(ctx, `{"$gt":""}`); len(list) != 0 {
			t.Fatalf("an operator-like openId matched %d drawings", len(list))
		}
	})

	t.Run("Ready", func(t *testing.T) {
		if err := newStore(t).Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
