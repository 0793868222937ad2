package game

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Rules are the game's timings and sizes.
type Rules struct {
	GameTime     time.Duration // a round, from start to result (the original's 3s)
	BotDelay     time.Duration // how long a room waits for a second human before a bot joins
	ReadyWait    time.Duration // how long a ready player waits for the other between rounds
	NearbyRadius float64       // kilometres, for hi's nearby
	RoomSize     int
}

func (r *Rules) defaults() {
	if r.GameTime <= 0 {
		r.GameTime = 3 * time.Second
	}
	if r.BotDelay <= 0 {
		r.BotDelay = time.Second
	}
	if r.ReadyWait <= 0 {
		r.ReadyWait = 10 * time.Second
	}
	if r.NearbyRadius <= 0 {
		r.NearbyRadius = 5
	}
	if r.RoomSize < 2 {
		r.RoomSize = 2
	}
}

// Sender delivers events to one client without blocking: a client that cannot keep up is cut off by
// its Sender, never waited for.
type Sender interface {
	Send(event string, data any)
}

// lockedSender is a Sender whose sends under the hub's lock are only queued: the hub flushes it once
// the lock is released, so encoding events and writing to sockets never hold the lock.
type lockedSender interface {
	Sender
	enqueue(event string, data any) bool // true: flush after the lock is released
	flush()
}

type latLng struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Player is a connected human or a bot.
type Player struct {
	out      Sender // nil for bots
	uid      string
	uname    string
	uavatar  string
	coord    *latLng
	forced   string // the session's openId, which hello cannot override
	room     *room
	ready    bool
	choice   int
	standing Standing

	// Across nodes (with a Cluster):
	id     string      // this player's id, unique across nodes
	node   string      // a proxy's home node ("" for players of this node and bots)
	remote *remoteSeat // set while this node's player plays in a room on another node
	ticket *Ticket     // set while this player waits in the cluster's slot
	alias  string      // the pseudonym strangers see, made from id on first use (under the hub's lock)
}

type roomState int

const (
	waiting roomState = iota // not full
	playing                  // a round runs
	between                  // after result, until every member is ready again
)

type room struct {
	members []*Player
	state   roomState
	gen     int // bumped whenever a pending timer must no longer act
}

// Hub holds every player and room of this node behind one lock. Handlers never block under it:
// Senders queue and return.
type Hub struct {
	rules Rules
	now   func() time.Time

	mu      sync.Mutex
	flushes []lockedSender // connections to write to once the lock is released
	players map[*Player]bool
	uids    map[string]*Player // claimed uids of connected humans
	rooms   map[*room]bool
	botSeq  int
	rng     *rand.Rand
	closed  bool
	drain   bool // shutting down: running rounds finish, no new one starts

	cluster  Cluster            // nil: one node
	byID     map[string]*Player // this node's players and the proxies of other nodes' players, by id
	matching chan struct{}      // bounds the matches under way
}

// NewHub returns an empty hub.
func NewHub(rules Rules) *Hub {
	rules.defaults()
	return &Hub{rules: rules, now: time.Now, players: map[*Player]bool{}, uids: map[string]*Player{}, rooms: map[*room]bool{},
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)), byID: map[string]*Player{},
		matching: make(chan struct{}, 8)}
}

// Connect adds a human; forcedUID is the session's openId ("" without a session).
func (h *Hub) Connect(out Sender, forcedUID string) *Player {
	h.mu.Lock()
	defer h.unlock()
	p := &Player{out: out, forced: forcedUID, id: newID()}
	h.players[p] = true
	h.byID[p.id] = p
	return p
}

// Disconnect removes a human: its round is cancelled and its room dissolved.
func (h *Hub) Disconnect(p *Player) {
	h.mu.Lock()
	defer h.unlock()
	h.clusterDisconnect(p)
	h.leaveRoom(p)
	delete(h.players, p)
	delete(h.byID, p.id)
	if h.uids[p.uid] == p {
		delete(h.uids, p.uid)
	}
}

// Players counts connected humans.
func (h *Hub) Players() int {
	h.mu.Lock()
	defer h.unlock()
	return len(h.players)
}

// Drain lets running rounds finish and starts no new one; Playing tells when they are done.
func (h *Hub) Drain() {
	h.mu.Lock()
	defer h.unlock()
	h.drain = true
}

// Playing counts the rooms whose round runs.
func (h *Hub) Playing() int {
	h.mu.Lock()
	defer h.unlock()
	n := 0
	for r := range h.rooms {
		if r.state == playing {
			n++
		}
	}
	return n
}

// Close stops every timer from acting.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.unlock()
	h.closed = true
	for r := range h.rooms {
		r.gen++
	}
}

// send delivers an event to p; under the lock.
func (h *Hub) send(p *Player, event string, data any) {
	switch out := p.out.(type) {
	case nil:
	case lockedSender:
		if out.enqueue(event, data) {
			h.flushes = append(h.flushes, out)
		}
	default:
		out.Send(event, data)
	}
}

// sendNow delivers an event to p outside the lock.
func sendNow(p *Player, event string, data any) {
	if p.out != nil {
		p.out.Send(event, data)
	}
}

// unlock releases the lock, then writes what was queued under it.
func (h *Hub) unlock() {
	fl := h.flushes
	h.flushes = nil
	h.mu.Unlock()
	for _, s := range fl {
		s.flush()
	}
}

func (h *Hub) errorEvent(p *Player, msg string) { h.send(p, "error", map[string]any{"message": msg}) }

// Handle runs one client event. It returns an error for the client when the event was refused.
func (h *Hub) Handle(p *Player, event string, data json.RawMessage) error {
	h.mu.Lock()
	defer h.unlock()
	return h.handle(p, event, data)
}

func (h *Hub) handle(p *Player, event string, data json.RawMessage) error {
	if p.remote != nil && event != "hello" {
		// The room is on another node: its hub decides.
		h.forward(p, event, data)
		return nil
	}
	switch event {
	case "hello":
		return h.hello(p, data)
	case "join":
		if p.uid == "" {
			return fmt.Errorf("say hello first")
		}
		h.join(p)
	case "leave":
		h.leaveRoom(p)
	case "choice":
		var in struct {
			Choice json.RawMessage `json:"choice"`
		}
		var c int
		if json.Unmarshal(data, &in) != nil || json.Unmarshal(in.Choice, &c) != nil || !ValidChoice(c) {
			return fmt.Errorf("choice must be 1 (scissors), 2 (rock) or 3 (paper)")
		}
		if p.room == nil || p.room.state != playing {
			return fmt.Errorf("no round is running")
		}
		p.choice = c
		h.broadcast(p.room, p, "movement", func(to *Player) any { return movement{Movement: "choice", UID: seen(to, p)} })
	case "face":
		var in struct {
			Face json.RawMessage `json:"face"`
		}
		var f int
		if json.Unmarshal(data, &in) != nil || json.Unmarshal(in.Face, &f) != nil || f < 0 || f > 1000 {
			return fmt.Errorf("face must be a whole number")
		}
		if p.room == nil {
			return fmt.Errorf("not in a room")
		}
		h.broadcast(p.room, p, "movement", func(to *Player) any { return movement{Face: &f, Movement: "face", UID: seen(to, p)} })
	default:
		return fmt.Errorf("unknown event %q", event)
	}
	return nil
}

func (h *Hub) hello(p *Player, data json.RawMessage) error {
	var in struct {
		User struct {
			UID     string `json:"uid"`
			Uname   string `json:"uname"`
			Uavatar string `json:"uavatar"`
		} `json:"user"`
		Cordinate *latLng `json:"cordinate"` // sic, the original client's spelling
	}
	if json.Unmarshal(data, &in) != nil {
		return fmt.Errorf("hello needs {user:{uid,uname,uavatar}}")
	}
	uid := p.forced
	if uid == "" {
		uid = in.User.UID
		if uid == "" || len(uid) > 128 {
			return fmt.Errorf("hello needs a user.uid of 1 to 128 characters")
		}
		if other, ok := h.uids[uid]; ok && other != p {
			return fmt.Errorf("uid %q is connected already", uid)
		}
		if h.uids[p.uid] == p {
			delete(h.uids, p.uid)
		}
		h.uids[uid] = p
	}
	p.uid, p.uname, p.uavatar = uid, clip(in.User.Uname, 64), clip(in.User.Uavatar, 1024)
	p.coord = nil
	if c := in.Cordinate; c != nil && c.Lat >= -90 && c.Lat <= 90 && c.Lng >= -180 && c.Lng <= 180 {
		p.coord = c
	}
	h.clusterHello(p)
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// nearby counts the other connected players within the radius; without a position nobody is near.
func (h *Hub) nearby(p *Player) int {
	if p.coord == nil {
		return 0
	}
	n := 0
	for o := range h.players {
		if o != p && o.coord != nil && distanceKm(*p.coord, *o.coord) <= h.rules.NearbyRadius {
			n++
		}
	}
	return n
}

func distanceKm(a, b latLng) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLng := (b.Lat-a.Lat)*rad, (b.Lng-a.Lng)*rad
	x := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Sqrt(x))
}

// join seats a player, or between rounds marks it ready again.
func (h *Hub) join(p *Player) {
	if h.drain {
		h.errorEvent(p, "the server is restarting: join again in a moment")
		return
	}
	r := p.room
	switch {
	case r == nil:
		h.seat(p)
	case r.state == playing:
		h.leaveRoom(p) // the original's join left the current room first
		h.seat(p)
	case r.state == between:
		p.ready = true
		if h.allReady(r) {
			h.start(r)
			return
		}
		gen := r.gen
		time.AfterFunc(h.rules.ReadyWait, func() {
			h.mu.Lock()
			defer h.unlock()
			if h.closed || r.gen != gen || p.room != r || r.state != between {
				return
			}
			h.leaveRoom(p) // the other never came back: play someone else
			h.seat(p)
		})
	case r.state == waiting:
		// Already waiting for an opponent.
	}
}

func (h *Hub) allReady(r *room) bool {
	if len(r.members) < h.rules.RoomSize {
		return false
	}
	for _, m := range r.members {
		if !m.ready {
			return false
		}
	}
	return true
}

// seat pairs p with a waiting player through the cluster's waiting slot (in memory on one node, in
// Redis across nodes), or seats it to wait for one; a bot fills the room if nobody comes.
func (h *Hub) seat(p *Player) { h.clusterSeat(p) }

// waitRoom seats p alone in a new room that waits for an opponent.
func (h *Hub) waitRoom(p *Player) *room {
	r := &room{members: []*Player{p}}
	p.room, p.ready = r, true
	h.rooms[r] = true
	return r
}

// afterBotDelay calls fill if r still waits BotDelay from now.
func (h *Hub) afterBotDelay(r *room, fill func(gen int)) {
	gen := r.gen
	time.AfterFunc(h.rules.BotDelay, func() {
		h.mu.Lock()
		defer h.unlock()
		if h.closed || r.gen != gen || !h.rooms[r] || r.state != waiting {
			return
		}
		fill(gen)
	})
}

func (h *Hub) fillWithBots(r *room) {
	for len(r.members) < h.rules.RoomSize {
		h.botSeq++
		bot := &Player{id: newID(), uid: fmt.Sprintf("robot-%d", h.botSeq), uname: fmt.Sprintf("robot-%d", h.botSeq), ready: true, room: r}
		r.members = append(r.members, bot)
	}
	h.start(r)
}

func hasBot(r *room) bool {
	for _, m := range r.members {
		if m.out == nil {
			return true
		}
	}
	return false
}

func (h *Hub) broadcast(r *room, except *Player, event string, data func(to *Player) any) {
	for _, m := range r.members {
		if m != except {
			h.send(m, event, data(m))
		}
	}
}

// seen is how player about is named to player to: by the uid it said (or its session's openId) to
// itself, so a client finds itself in start and result as the original protocol has it, and by a
// pseudonym of this game session to anyone else, so no openId reaches a stranger. The pseudonym
// comes from the connection's random id, which every node knows (tickets carry it).
func seen(to, about *Player) string {
	if to == about || (about.out == nil && about.node == "") { // itself, or a bot (nobody's identity)
		return about.uid
	}
	if about.alias == "" {
		sum := sha256.Sum256([]byte("applet-game-pseudonym/" + about.id))
		about.alias = "player-" + hex.EncodeToString(sum[:6])
	}
	return about.alias
}

// The payloads of a round's events, sent to every player of a room many times a second: structs
// rather than maps, which encode without sorting keys or boxing values. Fields are in the order a
// map gives them (by name), so clients see the bytes they always saw.
type (
	movement struct {
		Face     *int   `json:"face,omitempty"`
		Movement string `json:"movement"`
		UID      string `json:"uid"`
	}
	roomUser struct {
		Choice     int    `json:"choice"`
		RoundScore int    `json:"roundScore"`
		TotalScore int    `json:"totalScore"`
		Uavatar    string `json:"uavatar"`
		UID        string `json:"uid"`
		Uname      string `json:"uname"`
		WinStreak  int    `json:"winStreak"`
	}
	startEvent struct {
		GameTime  int        `json:"gameTime"`
		RoomUsers []roomUser `json:"roomUsers"`
	}
	userResult struct {
		Choice     int    `json:"choice"`
		RoundScore int    `json:"roundScore"`
		TotalScore int    `json:"totalScore"`
		UID        string `json:"uid"`
		WinStreak  int    `json:"winStreak"`
	}
	resultEvent struct {
		Result []userResult `json:"result"`
	}
)

// start begins a round: every member gets start, and gameTime later the result.
func (h *Hub) start(r *room) {
	if h.drain || h.closed {
		return
	}
	r.state = playing
	r.gen++
	gen := r.gen
	for _, m := range r.members {
		m.choice = NoChoice
		m.ready = m.out == nil
	}
	h.broadcast(r, nil, "start", func(to *Player) any {
		users := make([]roomUser, len(r.members))
		for i, m := range r.members {
			users[i] = roomUser{Choice: NoChoice, TotalScore: m.standing.TotalScore, Uavatar: m.uavatar, UID: seen(to, m),
				Uname: m.uname, WinStreak: m.standing.WinStreak}
		}
		return startEvent{GameTime: int(math.Ceil(h.rules.GameTime.Seconds())), RoomUsers: users}
	})
	time.AfterFunc(h.rules.GameTime, func() {
		h.mu.Lock()
		defer h.unlock()
		if h.closed || r.gen != gen || r.state != playing {
			return
		}
		h.finish(r)
	})
	for _, m := range r.members {
		if m.out == nil {
			h.botPlay(r, m, gen)
		}
	}
}

// botPlay changes the bot's choice at random moments while the round runs.
func (h *Hub) botPlay(r *room, bot *Player, gen int) {
	delay := time.Duration(100+h.rng.IntN(int(h.rules.GameTime/time.Millisecond)/2+1)) * time.Millisecond
	time.AfterFunc(delay, func() {
		h.mu.Lock()
		defer h.unlock()
		if h.closed || r.gen != gen || r.state != playing || bot.room != r {
			return
		}
		bot.choice = 1 + h.rng.IntN(3)
		h.broadcast(r, bot, "movement", func(to *Player) any { return movement{Movement: "choice", UID: seen(to, bot)} })
		h.botPlay(r, bot, gen)
	})
}

func (h *Hub) finish(r *room) {
	choices := make([]int, len(r.members))
	standings := make([]Standing, len(r.members))
	for i, m := range r.members {
		choices[i], standings[i] = m.choice, m.standing
	}
	scores, next := Round(choices, standings)
	for i, m := range r.members {
		m.standing = next[i]
	}
	r.state = between
	r.gen++
	h.broadcast(r, nil, "result", func(to *Player) any {
		result := make([]userResult, len(r.members))
		for i, m := range r.members {
			result[i] = userResult{Choice: choices[i], RoundScore: scores[i], TotalScore: next[i].TotalScore, UID: seen(to, m), WinStreak: next[i].WinStreak}
		}
		return resultEvent{Result: result}
	})
}

// leaveRoom takes p out of its room. A running round is cancelled (no result), the others get
// leave, and the room dissolves: remaining humans are seated anew by their next join, bots go.
func (h *Hub) leaveRoom(p *Player) {
	r := p.room
	if r == nil {
		return
	}
	p.room, p.ready = nil, false
	r.gen++
	delete(h.rooms, r)
	for _, m := range r.members {
		if m.node != "" {
			delete(h.byID, m.id) // a proxy lives as long as its room
		}
		if m == p {
			continue
		}
		h.send(m, "leave", map[string]any{"uid": seen(m, p)})
		m.room, m.ready = nil, false
	}
	r.members = nil
}
