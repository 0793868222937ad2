package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/qcloud-applet/applet/serve/game"
)

// RunGameCluster checks a game.Cluster against its contract. newNode starts a node; when shared is
// true, nodes from the same newNode see each other (a cluster of several nodes).
func RunGameCluster(t *testing.T, newNode func(t *testing.T) game.Cluster, shared bool) {
	ctx := context.Background()
	ticket := func(c game.Cluster, player string) game.Ticket {
		return game.Ticket{Node: c.Node(), Player: player, UID: "uid-" + player, Uname: player}
	}

	t.Run("MatchPairsTwoTickets", func(t *testing.T) {
		a := newNode(t)
		t1, t2 := ticket(a, "p1"), ticket(a, "p2")
		if _, found, err := a.Match(ctx, t1); err != nil || found {
			t.Fatalf("first ticket: found %v, %v", found, err)
		}
		if _, found, _ := a.Match(ctx, t1); found {
			t.Fatal("a ticket was matched with itself")
		}
		opp, found, err := a.Match(ctx, t2)
		if err != nil || !found || opp != t1 {
			t.Fatalf("second ticket: %+v %v %v", opp, found, err)
		}
		if _, found, _ := a.Match(ctx, ticket(a, "p3")); found {
			t.Fatal("a taken ticket was handed out twice")
		}
	})

	t.Run("UnwaitOnlyWhileWaiting", func(t *testing.T) {
		a := newNode(t)
		t1 := ticket(a, "u1")
		a.Match(ctx, t1)
		if still, err := a.Unwait(ctx, t1); err != nil || !still {
			t.Fatalf("unwait a waiting ticket: %v %v", still, err)
		}
		if still, _ := a.Unwait(ctx, t1); still {
			t.Fatal("unwait twice")
		}
		a.Match(ctx, t1)
		a.Match(ctx, ticket(a, "u2")) // takes t1
		if still, _ := a.Unwait(ctx, t1); still {
			t.Fatal("unwait a taken ticket says it still waited")
		}
	})

	t.Run("PublishReachesTheNode", func(t *testing.T) {
		a := newNode(t)
		got := make(chan game.Message, 1)
		if err := a.Subscribe(func(ms []game.Message) {
			for _, m := range ms {
				got <- m
			}
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // a subscription takes effect asynchronously
		a.Publish(a.Node(), game.Message{Kind: game.MsgDeliver, To: "x", Event: "hi"})
		select {
		case m := <-got:
			if m.To != "x" || m.Event != "hi" {
				t.Fatalf("got %+v", m)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no message")
		}
	})

	t.Run("PublishKeepsOrderInBatches", func(t *testing.T) {
		a := newNode(t)
		got := make(chan game.Message, 1000)
		a.Subscribe(func(ms []game.Message) {
			for _, m := range ms {
				got <- m
			}
		})
		time.Sleep(100 * time.Millisecond)
		const n = 500 // faster than one at a time: batches form
		for i := range n {
			a.Publish(a.Node(), game.Message{Kind: game.MsgEvent, From: fmt.Sprint(i), Event: "face", Data: json.RawMessage(`{"face":1}`)})
		}
		for i := range n {
			select {
			case m := <-got:
				if m.From != fmt.Sprint(i) || string(m.Data) != `{"face":1}` {
					t.Fatalf("message %d: got %+v", i, m)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("%d of %d messages arrived", i, n)
			}
		}
	})

	t.Run("AliveAndNearby", func(t *testing.T) {
		a := newNode(t)
		if !a.Alive(ctx, a.Node()) || a.Alive(ctx, "no-such-node") {
			t.Fatal("alive")
		}
		a.SetPosition(ctx, "near1", 22.54, 114.05)
		a.SetPosition(ctx, "near2", 22.541, 114.051)
		a.SetPosition(ctx, "far", 39.9, 116.4)
		if n, err := a.Nearby(ctx, 22.54, 114.05, 5); err != nil || n != 2 {
			t.Fatalf("nearby %d %v", n, err)
		}
		a.RemovePosition(ctx, "near2")
		if n, _ := a.Nearby(ctx, 22.54, 114.05, 5); n != 1 {
			t.Fatalf("after remove: %d", n)
		}
		if err := a.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ClaimUID", func(t *testing.T) {
		a := newNode(t)
		if ok, err := a.ClaimUID(ctx, "u-1", "p1"); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if ok, _ := a.ClaimUID(ctx, "u-1", "p1"); !ok {
			t.Fatal("claiming again for the same player")
		}
		if err := a.ReleaseUID(ctx, "u-1", "p1"); err != nil {
			t.Fatal(err)
		}
	})

	if !shared {
		return
	}
	t.Run("ClaimUIDAcrossNodes", func(t *testing.T) {
		a, b := newNode(t), newNode(t)
		a.ClaimUID(ctx, "u-2", "pa")
		if ok, err := b.ClaimUID(ctx, "u-2", "pb"); err != nil || ok {
			t.Fatalf("a uid held on another node was claimed: %v %v", ok, err)
		}
		a.ReleaseUID(ctx, "u-2", "pb") // not the holder: nothing happens
		if ok, _ := b.ClaimUID(ctx, "u-2", "pb"); ok {
			t.Fatal("a release by someone else freed the uid")
		}
		a.ReleaseUID(ctx, "u-2", "pa")
		if ok, _ := b.ClaimUID(ctx, "u-2", "pb"); !ok {
			t.Fatal("a released uid could not be claimed")
		}
		b.Close() // a closed node's claims lapse with its heartbeat
		deadline := time.Now().Add(5 * time.Second)
		for {
			if ok, _ := a.ClaimUID(ctx, "u-2", "pa2"); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the claim of a closed node never lapsed")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Run("AcrossNodes", func(t *testing.T) {
		a, b := newNode(t), newNode(t)
		if a.Node() == b.Node() || !a.Alive(ctx, b.Node()) {
			t.Fatal("nodes should be distinct and see each other")
		}
		got := make(chan game.Message, 1)
		b.Subscribe(func(ms []game.Message) {
			for _, m := range ms {
				got <- m
			}
		})
		time.Sleep(100 * time.Millisecond)
		a.Match(ctx, ticket(a, "x1"))
		opp, found, _ := b.Match(ctx, ticket(b, "x2"))
		if !found || opp.Node != a.Node() {
			t.Fatalf("b should take a's ticket: %+v %v", opp, found)
		}
		a.Publish(b.Node(), game.Message{Kind: game.MsgSeat, To: "x2"})
		select {
		case m := <-got:
			if m.Kind != game.MsgSeat {
				t.Fatalf("got %+v", m)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no message across nodes")
		}
		a.SetPosition(ctx, "pa", 1, 1)
		b.SetPosition(ctx, "pb", 1, 1)
		if n, _ := b.Nearby(ctx, 1, 1, 1); n != 2 {
			t.Fatalf("nearby across nodes: %d", n)
		}
		// A node that closes is gone for the others, and its waiting ticket is not handed out.
		a.Match(ctx, ticket(a, "x3"))
		a.Close()
		if b.Alive(ctx, a.Node()) {
			t.Fatal("a closed node is alive")
		}
		if _, found, _ := b.Match(ctx, ticket(b, "x4")); found {
			t.Fatal("a dead node's ticket was handed out")
		}
	})
}
