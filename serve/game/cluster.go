package game

import (
	"context"
	"encoding/json"
)

// Cluster joins the hubs of several nodes into one game: matchmaking through one waiting slot,
// messages between nodes, which nodes are alive, and where players are (for nearby). A room lives on
// the node of the player who waited; a player on another node takes part through a proxy there, its
// events forwarded, its opponents' events delivered back. serve/redis implements it on Redis.
//
// Without a Cluster the hub keeps everything in process, as one node.
type Cluster interface {
	// Node is this node's id.
	Node() string
	// Match takes the waiting ticket, if another one waits on a live node; otherwise t becomes the
	// waiting one (for a while) and Match returns false.
	Match(ctx context.Context, t Ticket) (Ticket, bool, error)
	// Unwait withdraws t; false means someone took it meanwhile (a seat request is on its way).
	Unwait(ctx context.Context, t Ticket) (bool, error)
	// Publish queues a message for a node without blocking; it may be lost when Redis is down.
	// Messages to one node arrive in the order they were published.
	Publish(node string, m Message)
	// Subscribe delivers this node's messages to f, in order, as many as have arrived at a time
	// (the hub handles a batch under one lock), until Close.
	Subscribe(f func([]Message)) error
	// Alive reports whether a node is running (its heartbeat is fresh).
	Alive(ctx context.Context, node string) bool
	// SetPosition records where a player of this node is; RemovePosition forgets it.
	SetPosition(ctx context.Context, player string, lat, lng float64) error
	RemovePosition(ctx context.Context, player string) error
	// Nearby counts players on every live node within km of the point (the asker included).
	Nearby(ctx context.Context, lat, lng, km float64) (int, error)
	// ClaimUID makes uid this player's on every node; false when a live player elsewhere holds it.
	ClaimUID(ctx context.Context, uid, player string) (bool, error)
	// ReleaseUID gives a claimed uid up.
	ReleaseUID(ctx context.Context, uid, player string) error
	// Ready reports whether the cluster's store answers.
	Ready(ctx context.Context) error
	Close() error
}

// Ticket is a player waiting for an opponent.
type Ticket struct {
	Node     string   `json:"node"`
	Player   string   `json:"player"` // the player's id on its node
	UID      string   `json:"uid"`
	Uname    string   `json:"uname"`
	Uavatar  string   `json:"uavatar"`
	Standing Standing `json:"standing"`
}

// Message kinds between nodes.
const (
	MsgSeat       = "seat"        // to the waiting player's node: seat Ticket with To
	MsgSeatFailed = "seat-failed" // to the joiner's node: To could not be seated; match again
	MsgEvent      = "event"       // to the room's node: From's client event
	MsgDeliver    = "deliver"     // to a player's node: an event for To's client
	MsgGone       = "gone"        // to the room's node: From disconnected
	MsgRematch    = "rematch"     // to a player's node: seat To anew
)

// Message is one message between nodes.
type Message struct {
	Kind   string          `json:"kind"`
	Node   string          `json:"node"` // the sender
	From   string          `json:"from,omitempty"`
	To     string          `json:"to,omitempty"`
	Event  string          `json:"event,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Ticket *Ticket         `json:"ticket,omitempty"`
}
