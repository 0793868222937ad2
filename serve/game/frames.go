package game

import (
	"encoding/binary"

	"github.com/gorilla/websocket"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
	opPing         = 9
	opPong         = 10
)

// frameError ends a connection with a close code.
type frameError struct {
	code   int
	reason string
}

func (e *frameError) Error() string { return e.reason }

// frameReader assembles a client's frames from whatever bytes have arrived. It is fed by the reader
// when the socket is readable and keeps nothing between complete frames, so an idle connection owns
// neither a goroutine nor a buffer. gorilla/websocket's own reader cannot be driven this way: after
// a control frame it blocks for the next frame, and the bytes it has buffered are not visible.
type frameReader struct {
	max     int    // payload bytes per message
	partial []byte // an incomplete frame (header included); nil at a frame boundary
	msg     []byte // the payload so far of a fragmented message
	msgOp   byte   // its opcode
	inMsg   bool
}

// pending reports whether a frame or a message is incomplete.
func (r *frameReader) pending() bool { return r.partial != nil || r.inMsg }

// feed consumes data (which it may modify: payloads are unmasked in place) and calls f for each
// complete message (opText, opBinary) and control frame, with a payload valid only during the call;
// f returning false stops it. A protocol violation or an oversized message is a *frameError.
func (r *frameReader) feed(data []byte, f func(op byte, payload []byte) bool) error {
	if r.partial != nil {
		data = append(r.partial, data...)
		r.partial = nil
	}
	for len(data) > 0 {
		if len(data) < 2 {
			r.keep(data)
			return nil
		}
		b0, b1 := data[0], data[1]
		fin, op := b0&0x80 != 0, b0&0x0f
		if b0&0x70 != 0 {
			return &frameError{websocket.CloseProtocolError, "reserved bits set"}
		}
		if b1&0x80 == 0 {
			return &frameError{websocket.CloseProtocolError, "client frame not masked"}
		}
		hl, n := 2, uint64(b1&0x7f)
		switch n {
		case 126:
			hl += 2
		case 127:
			hl += 8
		}
		hl += 4
		if len(data) < hl {
			r.keep(data)
			return nil
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(data[2:]))
		case 127:
			n = binary.BigEndian.Uint64(data[2:])
		}
		switch {
		case op >= opClose:
			if op > opPong {
				return &frameError{websocket.CloseProtocolError, "unknown opcode"}
			}
			if !fin || n > 125 {
				return &frameError{websocket.CloseProtocolError, "invalid control frame"}
			}
		case op == opContinuation:
			if !r.inMsg {
				return &frameError{websocket.CloseProtocolError, "continuation without a message"}
			}
		case op == opText || op == opBinary:
			if r.inMsg {
				return &frameError{websocket.CloseProtocolError, "new message inside a fragmented one"}
			}
		default:
			return &frameError{websocket.CloseProtocolError, "unknown opcode"}
		}
		// Refused before it is buffered: a client cannot make the server hold more than max.
		if op < opClose && n > uint64(r.max-len(r.msg)) {
			return &frameError{websocket.CloseMessageTooBig, "message too big"}
		}
		end := hl + int(n)
		if len(data) < end {
			r.keep(data)
			return nil
		}
		payload := data[hl:end]
		mask := data[hl-4 : hl]
		for i := range payload {
			payload[i] ^= mask[i&3]
		}
		data = data[end:]
		switch {
		case op >= opClose:
			if !f(op, payload) {
				return nil
			}
		case fin && !r.inMsg:
			if !f(op, payload) {
				return nil
			}
		default:
			if !r.inMsg {
				r.inMsg, r.msgOp = true, op
			}
			r.msg = append(r.msg, payload...)
			if fin {
				m, mop := r.msg, r.msgOp
				r.msg, r.inMsg = nil, false
				if !f(mop, m) {
					return nil
				}
			}
		}
	}
	return nil
}

// keep holds an incomplete frame (at most max plus a header) until more bytes arrive.
func (r *frameReader) keep(data []byte) { r.partial = append([]byte(nil), data...) }

// frameBytes is one unfragmented server frame (unmasked, RFC 6455 §5.1). After the handshake a
// connection keeps only its socket: gorilla/websocket's Conn, with its read buffer, is ~670 bytes an
// idle connection would hold (frameReader reads, this writes).
func frameBytes(op byte, payload []byte) []byte {
	n := len(payload)
	b := make([]byte, 0, 10+n)
	switch {
	case n < 126:
		b = append(b, 0x80|op, byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|op, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|op, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}
