package game

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// clientFrame is a masked client frame, as a browser or a mini program sends it.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestFrameReader(t *testing.T) {
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 70000)
	for _, tc := range []struct {
		name   string
		stream []byte
		max    int
		want   []string // "op:payload"
		err    int      // close code, 0: none
	}{
		{"one text", clientFrame(true, opText, []byte(`42["join"]`)), 4096, []string{`1:42["join"]`}, 0},
		{"two in one read", cat(clientFrame(true, opText, []byte("a")), clientFrame(true, opText, []byte("b"))), 4096, []string{"1:a", "1:b"}, 0},
		{"empty text", clientFrame(true, opText, nil), 4096, []string{"1:"}, 0},
		{"16-bit length", clientFrame(true, opText, []byte(long)), 4096, []string{"1:" + long}, 0},
		{"64-bit length", clientFrame(true, opText, []byte(huge)), 100000, []string{"1:" + huge}, 0},
		{"fragments with a ping between", cat(clientFrame(false, opText, []byte("he")), clientFrame(true, opPing, []byte("p")),
			clientFrame(false, opContinuation, []byte("ll")), clientFrame(true, opContinuation, []byte("o"))), 4096, []string{"9:p", "1:hello"}, 0},
		{"pong and close", cat(clientFrame(true, opPong, nil), clientFrame(true, opClose, []byte{3, 232})), 4096, []string{"10:", "8:\x03\xe8"}, 0},
		{"binary", clientFrame(true, opBinary, []byte{1, 2}), 4096, []string{"2:\x01\x02"}, 0},
		{"too big, refused at its header", clientFrame(true, opText, []byte(long))[:8], 100, nil, websocket.CloseMessageTooBig},
		{"fragments too big together", cat(clientFrame(false, opText, []byte(long[:80])), clientFrame(true, opContinuation, []byte(long[:80]))), 100, nil, websocket.CloseMessageTooBig},
		{"unmasked", []byte{0x81, 0x01, 'a'}, 4096, nil, websocket.CloseProtocolError},
		{"reserved bit", func() []byte { f := clientFrame(true, opText, []byte("a")); f[0] |= 0x40; return f }(), 4096, nil, websocket.CloseProtocolError},
		{"unknown opcode", clientFrame(true, 3, []byte("a")), 4096, nil, websocket.CloseProtocolError},
		{"fragmented ping", clientFrame(false, opPing, nil), 4096, nil, websocket.CloseProtocolError},
		{"long ping", clientFrame(true, opPing, []byte(long)), 4096, nil, websocket.CloseProtocolError},
		{"stray continuation", clientFrame(true, opContinuation, []byte("a")), 4096, nil, websocket.CloseProtocolError},
		{"message inside a message", cat(clientFrame(false, opText, []byte("a")), clientFrame(true, opText, []byte("b"))), 4096, nil, websocket.CloseProtocolError},
	} {
		// Every way the stream can be cut into reads gives the same result.
		for _, chunk := range []int{len(tc.stream), 1, 2, 3, 5, 7, 64} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, chunk), func(t *testing.T) {
				r := frameReader{max: tc.max}
				var got []string
				var err error
				stream := bytes.Clone(tc.stream)
				for i := 0; i < len(stream) && err == nil; i += chunk {
					end := min(i+chunk, len(stream))
					err = r.feed(bytes.Clone(stream[i:end]), func(op byte, p []byte) bool {
						got = append(got, fmt.Sprintf("%d:%s", op, p))
						return true
					})
				}
				if tc.err != 0 {
					if fe, ok := err.(*frameError); !ok || fe.code != tc.err {
						t.Fatalf("want close %d, got %v (frames %q)", tc.err, err, got)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
				if r.pending() {
					t.Fatal("bytes held after complete frames")
				}
			})
		}
	}
}

// An incomplete frame is held, and only until it completes.
func TestFrameReaderHoldsOnlyIncompleteFrames(t *testing.T) {
	r := frameReader{max: 4096}
	f := clientFrame(true, opText, []byte("hello"))
	r.feed(bytes.Clone(f[:4]), func(byte, []byte) bool { t.Fatal("early"); return true })
	if !r.pending() {
		t.Fatal("a partial header was dropped")
	}
	n := 0
	r.feed(bytes.Clone(f[4:]), func(byte, []byte) bool { n++; return true })
	if n != 1 || r.pending() || r.partial != nil || r.msg != nil {
		t.Fatalf("n=%d, pending=%v", n, r.pending())
	}
}
