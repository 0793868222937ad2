package game

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Protocol is how a connection frames its messages.
type Protocol int

// The protocols a client may speak.
const (
	EIO3  Protocol = 3 // Engine.IO 3 (the original client, socket.io-client 2.x)
	EIO4  Protocol = 4 // Engine.IO 4 (socket.io-client 3.x and 4.x)
	Plain Protocol = 0 // JSON frames {"event":..., "data":...} at /ws
)

// Engine.IO packet types.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// Socket.IO packet types (after the Engine.IO message type).
const (
	sioConnect    = '0'
	sioDisconnect = '1'
	sioEvent      = '2'
	sioAck        = '3'
	sioError      = '4'
)

// Inbound kinds.
const (
	inPing = iota + 1
	inPong
	inClose
	inNoop
	inConnect
	inDisconnect
	inEvent
	inAck
)

// inbound is one decoded client frame.
type inbound struct {
	kind      int
	namespace string // "/" unless the client named one
	name      string // event name
	data      json.RawMessage
	ackID     int // -1 when the client wants no ack
	payload   string
}

var errFrame = errors.New("malformed frame")

// decode parses one text frame of protocol p.
func decode(p Protocol, frame []byte) (inbound, error) {
	in := inbound{ackID: -1, namespace: "/"}
	if p == Plain {
		var msg struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if json.Unmarshal(frame, &msg) != nil || msg.Event == "" {
			return in, errFrame
		}
		in.kind, in.name, in.data = inEvent, msg.Event, msg.Data
		return in, nil
	}
	if len(frame) == 0 {
		return in, errFrame
	}
	switch frame[0] {
	case eioPing:
		in.kind, in.payload = inPing, string(frame[1:])
		return in, nil
	case eioPong:
		in.kind = inPong
		return in, nil
	case eioClose:
		in.kind = inClose
		return in, nil
	case eioNoop, eioUpgrade:
		in.kind = inNoop
		return in, nil
	case eioMessage:
	default:
		return in, errFrame
	}
	s := string(frame[1:])
	if s == "" {
		return in, errFrame
	}
	typ := s[0]
	s = s[1:]
	if strings.HasPrefix(s, "/") {
		ns, rest, ok := strings.Cut(s, ",")
		if !ok {
			ns, rest = s, ""
		}
		in.namespace, s = ns, rest
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 {
		id, err := strconv.Atoi(s[:i])
		if err != nil || i > 9 {
			return in, errFrame
		}
		in.ackID, s = id, s[i:]
	}
	switch typ {
	case sioConnect:
		in.kind, in.data = inConnect, json.RawMessage(s)
		return in, nil
	case sioDisconnect:
		in.kind = inDisconnect
		return in, nil
	case sioEvent:
		var args []json.RawMessage
		if json.Unmarshal([]byte(s), &args) != nil || len(args) == 0 {
			return in, errFrame
		}
		if json.Unmarshal(args[0], &in.name) != nil || in.name == "" {
			return in, errFrame
		}
		in.kind = inEvent
		if len(args) > 1 {
			in.data = args[1]
		}
		return in, nil
	case sioAck:
		in.kind = inAck
		return in, nil
	}
	return in, errFrame
}

// encodeEvent frames an event for protocol p.
func encodeEvent(p Protocol, name string, data any) []byte {
	d, _ := json.Marshal(data)
	if p == Plain {
		b, _ := json.Marshal(struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}{name, d})
		return b
	}
	n, _ := json.Marshal(name)
	out := make([]byte, 0, len(n)+len(d)+5)
	out = append(out, "42["...)
	out = append(out, n...)
	out = append(out, ',')
	out = append(out, d...)
	return append(out, ']')
}

// encodeAck answers an event that carried an ack id.
func encodeAck(namespace string, id int, args ...any) []byte {
	b, _ := json.Marshal(args)
	prefix := "43"
	if namespace != "/" {
		prefix += namespace + ","
	}
	return []byte(prefix + strconv.Itoa(id) + string(b))
}

// openPacket is the Engine.IO handshake.
func openPacket(p Protocol, sid string, pingInterval, pingTimeout int) []byte {
	// A struct, so the fields come in the order the original server sent them.
	open := struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
		PingTimeout  int      `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload,omitempty"`
	}{sid, []string{}, pingInterval, pingTimeout, 0}
	if p == EIO4 {
		open.MaxPayload = 1000000
	}
	b, _ := json.Marshal(open)
	return append([]byte{eioOpen}, b...)
}

// connectPacket acknowledges the default namespace: EIO 3 sends it unprompted, EIO 4 (Socket.IO v5)
// answers the client's connect with the socket's id.
func connectPacket(p Protocol, sid string) []byte {
	if p == EIO3 {
		return []byte("40")
	}
	return []byte(`40{"sid":"` + sid + `"}`)
}

// namespaceError refuses a namespace other than "/".
func namespaceError(p Protocol, namespace string) []byte {
	if p == EIO3 {
		return []byte(`44` + namespace + `,"Invalid namespace"`)
	}
	return []byte(`44` + namespace + `,{"message":"Invalid namespace"}`)
}
