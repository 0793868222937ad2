package game

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// ErrMatchUnavailable is what a client hears when matchmaking cannot reach the cluster.
const ErrMatchUnavailable = "matchmaking is unavailable right now (the game's Redis does not answer): join again in a moment"

func newID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// remoteSeat is where a player of this node plays: a room on another node.
type remoteSeat struct {
	node     string
	opponent string // the uid of the other player, for the leave this node sends if that node dies
}

// proxySender delivers a proxy's events to its client on its home node.
type proxySender struct {
	h    *Hub
	node string
	id   string
}

func (s proxySender) Send(event string, data any) {
	b, _ := json.Marshal(data)
	s.h.cluster.Publish(s.node, Message{Kind: MsgDeliver, Node: s.h.cluster.Node(), To: s.id, Event: event, Data: b})
}

// SetCluster joins the hub to other nodes. It subscribes to this node's messages and watches the
// nodes its rooms span, so a node that dies costs its opponents their room within seconds.
func (h *Hub) SetCluster(c Cluster, log *slog.Logger) error {
	h.mu.Lock()
	h.cluster = c
	h.unlock()
	if err := c.Subscribe(h.onMessages); err != nil {
		return err
	}
	go h.watch(log)
	return nil
}

func (h *Hub) forward(p *Player, event string, data json.RawMessage) {
	h.cluster.Publish(p.remote.node, Message{Kind: MsgEvent, Node: h.cluster.Node(), From: p.id, Event: event, Data: data})
	if event == "leave" {
		p.remote = nil // the room's node tells the others; this player is free here
	}
}

// clusterHello records the player's position and answers hi with the count of players near it on
// every node; without Redis, this node's own count.
func (h *Hub) clusterHello(p *Player) {
	id, uid, coord, local, forced := p.id, p.uid, p.coord, h.nearby(p), p.forced != ""
	go func() {
		// A uid said in hello must not be in use on another node either (a session's openId may play
		// from two devices, as on one node); without Redis, this node's check stands.
		ok, err := true, error(nil)
		if !forced {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ok, err = h.cluster.ClaimUID(ctx, uid, id)
			cancel()
		}
		if err == nil && !ok {
			h.mu.Lock()
			if p.uid == uid {
				if h.uids[uid] == p {
					delete(h.uids, uid)
				}
				p.uid = ""
			}
			h.unlock()
			sendNow(p, "error", map[string]any{"message": fmt.Sprintf("uid %q is connected already", uid)})
			return
		}
		n := local
		if coord != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if h.cluster.SetPosition(ctx, id, coord.Lat, coord.Lng) == nil {
				if all, err := h.cluster.Nearby(ctx, coord.Lat, coord.Lng, h.rules.NearbyRadius); err == nil {
					n = max(all-1, 0) // not counting the player itself
				}
			}
		}
		sendNow(p, "hi", map[string]any{"message": "welcome", "nearby": n})
	}()
}

// ticketOn is p's waiting ticket, from this node.
func (p *Player) ticketOn(node string) Ticket {
	return Ticket{Node: node, Player: p.id, UID: p.uid, Uname: p.uname, Uavatar: p.uavatar, Standing: p.standing}
}

// clusterSeat pairs p through the cluster's waiting slot. p first waits in a room of its own, so
// whoever takes its ticket finds the room; the Redis call runs outside the hub's lock.
func (h *Hub) clusterSeat(p *Player) {
	if p.node != "" {
		// A proxy to seat anew: its own node does the matching.
		h.cluster.Publish(p.node, Message{Kind: MsgRematch, Node: h.cluster.Node(), To: p.id})
		delete(h.byID, p.id)
		return
	}
	if p.ticket != nil {
		return // already waiting
	}
	t := p.ticketOn(h.cluster.Node())
	p.ticket = &t
	r := h.waitRoom(p)
	go func() {
		// A few matches at a time: a crowd joining at once queues here instead of timing out in the
		// Redis client's pool.
		h.matching <- struct{}{}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		opp, found, err := h.cluster.Match(ctx, t)
		cancel()
		<-h.matching
		h.mu.Lock()
		defer h.unlock()
		if !h.players[p] || p.ticket != &t {
			// Gone meanwhile, or someone took the ticket and is already in the room.
			if !found && err == nil && !h.players[p] {
				go h.cluster.Unwait(context.Background(), t)
			}
			return
		}
		p.ticket = nil
		if found || err != nil {
			// The ticket never entered the slot: nobody can be on the way to this room.
			h.dissolveAlone(p, r)
		}
		switch {
		case err != nil:
			h.errorEvent(p, ErrMatchUnavailable)
		case h.drain || h.closed:
			if !found {
				h.dissolveAlone(p, r)
				go h.cluster.Unwait(context.Background(), t)
			}
			h.errorEvent(p, "the server is restarting: join again in a moment")
		case !found:
			p.ticket = &t
			h.afterBotDelay(r, func(gen int) { h.clusterFill(p, r, gen, t) })
		case opp.Node == h.cluster.Node():
			w := h.byID[opp.Player]
			if w != nil && w.room != nil && w.room.state == waiting && len(w.room.members) < h.rules.RoomSize && !hasBot(w.room) {
				w.ticket = nil
				h.join2(w.room, p)
				return
			}
			h.clusterSeat(p) // it left meanwhile: try again
		default:
			p.remote = &remoteSeat{node: opp.Node, opponent: opp.UID}
			h.cluster.Publish(opp.Node, Message{Kind: MsgSeat, Node: h.cluster.Node(), To: opp.Player, Ticket: &t})
		}
	}()
}

// dissolveAlone removes r if p still sits in it alone.
func (h *Hub) dissolveAlone(p *Player, r *room) {
	if p.room == r && len(r.members) == 1 && r.state == waiting {
		r.gen++
		delete(h.rooms, r)
		p.room, p.ready = nil, false
		r.members = nil
	}
}

// join2 seats p in r and starts it when full.
func (h *Hub) join2(r *room, p *Player) {
	r.members = append(r.members, p)
	p.room, p.ready = r, true
	if len(r.members) == h.rules.RoomSize {
		h.start(r)
	}
}

// clusterFill runs when nobody came within BotDelay: the ticket is withdrawn, and the bot plays, unless
// someone took the ticket meanwhile (their seat request is on its way; give it a moment).
func (h *Hub) clusterFill(p *Player, r *room, gen int, t Ticket) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		still, err := h.cluster.Unwait(ctx, t)
		h.mu.Lock()
		defer h.unlock()
		if h.closed || r.gen != gen || !h.rooms[r] || r.state != waiting {
			return
		}
		p.ticket = nil
		if still || err != nil {
			h.fillWithBots(r)
			return
		}
		time.AfterFunc(2*time.Second, func() {
			h.mu.Lock()
			defer h.unlock()
			if !h.closed && r.gen == gen && h.rooms[r] && r.state == waiting && len(r.members) < h.rules.RoomSize {
				h.fillWithBots(r) // the seat request never came
			}
		})
	}()
}

func (h *Hub) clusterDisconnect(p *Player) {
	if p.remote != nil {
		h.cluster.Publish(p.remote.node, Message{Kind: MsgGone, Node: h.cluster.Node(), From: p.id})
		p.remote = nil
	}
	if t := p.ticket; t != nil {
		p.ticket = nil
		go h.cluster.Unwait(context.Background(), *t)
	}
	if p.coord != nil {
		id := p.id
		go h.cluster.RemovePosition(context.Background(), id)
	}
	if p.uid != "" && p.forced == "" {
		uid, id := p.uid, p.id
		go h.cluster.ReleaseUID(context.Background(), uid, id)
	}
}

// onMessages handles messages from other nodes (or this one), under one hold of the lock.
func (h *Hub) onMessages(ms []Message) {
	h.mu.Lock()
	defer h.unlock()
	for _, m := range ms {
		h.onMessage(m)
	}
}

func (h *Hub) onMessage(m Message) {
	switch m.Kind {
	case MsgSeat:
		w := h.byID[m.To]
		t := m.Ticket
		if t == nil {
			return
		}
		if w == nil || w.node != "" || w.room == nil || w.room.state != waiting || len(w.room.members) >= h.rules.RoomSize || hasBot(w.room) || h.drain {
			h.cluster.Publish(m.Node, Message{Kind: MsgSeatFailed, Node: h.cluster.Node(), To: t.Player})
			return
		}
		w.ticket = nil
		proxy := &Player{id: t.Player, node: m.Node, uid: t.UID, uname: t.Uname, uavatar: t.Uavatar, standing: t.Standing}
		proxy.out = proxySender{h: h, node: m.Node, id: t.Player}
		h.byID[proxy.id] = proxy
		h.join2(w.room, proxy)
	case MsgSeatFailed, MsgRematch:
		p := h.byID[m.To]
		if p == nil || p.node != "" {
			return
		}
		p.remote = nil
		h.seat(p)
	case MsgEvent:
		proxy := h.byID[m.From]
		if proxy == nil || proxy.node == "" {
			return
		}
		if err := h.handle(proxy, m.Event, m.Data); err != nil {
			h.errorEvent(proxy, err.Error())
		}
	case MsgGone:
		if proxy := h.byID[m.From]; proxy != nil && proxy.node != "" {
			h.leaveRoom(proxy)
			delete(h.byID, proxy.id)
		}
	case MsgDeliver:
		p := h.byID[m.To]
		if p == nil || p.node != "" || p.remote == nil {
			return
		}
		switch m.Event {
		case "leave":
			p.remote = nil
		case "start":
			var in struct {
				RoomUsers []struct {
					UID string `json:"uid"`
				} `json:"roomUsers"`
			}
			json.Unmarshal(m.Data, &in)
			for _, u := range in.RoomUsers {
				if u.UID != p.uid {
					p.remote.opponent = u.UID
				}
			}
		}
		h.send(p, m.Event, m.Data)
	}
}

// watch checks, every second, the nodes this node's rooms span; a dead one costs its players their
// rooms here, and this node's players seated there get leave.
func (h *Hub) watch(log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for range t.C {
		h.mu.Lock()
		if h.closed {
			h.unlock()
			return
		}
		nodes := map[string]bool{}
		for _, p := range h.byID {
			if p.node != "" {
				nodes[p.node] = true
			}
			if p.remote != nil {
				nodes[p.remote.node] = true
			}
		}
		h.unlock()
		for n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			alive := h.cluster.Alive(ctx, n)
			cancel()
			if alive {
				continue
			}
			log.Warn("game node is gone; its players leave their rooms here", "node", n)
			h.mu.Lock()
			for _, p := range h.byID {
				switch {
				case p.node == n:
					h.leaveRoom(p)
					delete(h.byID, p.id)
				case p.remote != nil && p.remote.node == n:
					opp := p.remote.opponent
					p.remote = nil
					h.send(p, "leave", map[string]any{"uid": opp})
				}
			}
			h.unlock()
		}
	}
}
