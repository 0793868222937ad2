package testenv

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// MongoAuth is a MongoDB server with accounts in front of the suite's MongoDB-wire server, which has
// none: it answers saslStart and saslContinue itself (SCRAM-SHA-1 and SCRAM-SHA-256, as MongoDB and
// TencentDB for MongoDB do), refuses every other command of a connection that has not authenticated
// (Unauthorized, code 13), and passes the rest through.
type MongoAuth struct {
	Addr string

	mu    sync.Mutex
	users map[string]string // user → password
	salt  []byte
}

// NewMongoAuth starts one in front of the server at upstream (host:port).
func NewMongoAuth(t testing.TB, upstream string) *MongoAuth {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &MongoAuth{Addr: ln.Addr().String(), users: map[string]string{}, salt: make([]byte, 16)}
	rand.Read(m.salt)
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); m.serve(c, upstream) }()
		}
	}()
	return m
}

// SetPassword makes (or changes) an account.
func (m *MongoAuth) SetPassword(user, password string) {
	m.mu.Lock()
	m.users[user] = password
	m.mu.Unlock()
}

func (m *MongoAuth) lookup(sha1 bool) scram.CredentialLookup {
	return func(user string) (scram.StoredCredentials, error) {
		m.mu.Lock()
		pw, ok := m.users[user]
		m.mu.Unlock()
		if !ok {
			return scram.StoredCredentials{}, errors.New("no such user")
		}
		kf := scram.KeyFactors{Salt: string(m.salt), Iters: 10000}
		if sha1 { // MongoDB's SCRAM-SHA-1 hashes the password first
			c, err := scram.SHA1.NewClientUnprepped(user, fmt.Sprintf("%x", md5.Sum([]byte(user+":mongo:"+pw))), "")
			if err != nil {
				return scram.StoredCredentials{}, err
			}
			return c.GetStoredCredentials(kf), nil
		}
		c, err := scram.SHA256.NewClient(user, pw, "")
		if err != nil {
			return scram.StoredCredentials{}, err
		}
		return c.GetStoredCredentials(kf), nil
	}
}

const (
	opMsg   = 2013
	opQuery = 2004
)

// serve handles one client connection: a request, then its answer, in turn (what the driver does).
func (m *MongoAuth) serve(c net.Conn, upstream string) {
	defer c.Close()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	authed := false
	var conv *scram.ServerConversation
	for {
		msg, err := readWire(c)
		if err != nil {
			return
		}
		reqID := binary.LittleEndian.Uint32(msg[4:8])
		op := binary.LittleEndian.Uint32(msg[12:16])
		if op == opMsg {
			doc, ok := msgBody(msg)
			if !ok {
				return
			}
			name := ""
			if elems, err := doc.Elements(); err == nil && len(elems) > 0 {
				name = elems[0].Key()
			}
			var reply bson.D
			switch name {
			case "saslStart":
				mech, _ := doc.Lookup("mechanism").StringValueOK()
				var srv *scram.Server
				switch mech {
				case "SCRAM-SHA-1":
					srv, _ = scram.SHA1.NewServer(m.lookup(true))
				case "SCRAM-SHA-256":
					srv, _ = scram.SHA256.NewServer(m.lookup(false))
				}
				if srv == nil {
					reply = bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(2)}, {Key: "codeName", Value: "BadValue"}, {Key: "errmsg", Value: "Unsupported mechanism " + mech}}
					break
				}
				conv = srv.NewConversation()
				reply = m.step(conv, doc, &authed)
			case "saslContinue":
				if conv == nil {
					reply = bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(17)}, {Key: "codeName", Value: "ProtocolError"}, {Key: "errmsg", Value: "No SASL session state found"}}
					break
				}
				reply = m.step(conv, doc, &authed)
			case "hello", "isMaster", "ismaster", "ping", "buildInfo", "buildinfo", "endSessions":
			default:
				if !authed {
					reply = bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(13)}, {Key: "codeName", Value: "Unauthorized"},
						{Key: "errmsg", Value: "command " + name + " requires authentication"}}
				}
			}
			if reply != nil {
				if err := writeMsg(c, reqID, reply); err != nil {
					return
				}
				continue
			}
		} else if op != opQuery {
			return
		}
		if _, err := up.Write(msg); err != nil {
			return
		}
		ans, err := readWire(up)
		if err != nil {
			return
		}
		if _, err := c.Write(ans); err != nil {
			return
		}
	}
}

// step runs one SCRAM step of a saslStart or saslContinue.
func (m *MongoAuth) step(conv *scram.ServerConversation, doc bson.Raw, authed *bool) bson.D {
	_, payload, ok := doc.Lookup("payload").BinaryOK()
	if !ok {
		return bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(2)}, {Key: "codeName", Value: "BadValue"}, {Key: "errmsg", Value: "no payload"}}
	}
	out, err := conv.Step(string(payload))
	if err != nil || (conv.Done() && !conv.Valid()) {
		return bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(18)}, {Key: "codeName", Value: "AuthenticationFailed"}, {Key: "errmsg", Value: "Authentication failed."}}
	}
	if conv.Done() {
		*authed = true
	}
	return bson.D{{Key: "conversationId", Value: int32(1)}, {Key: "done", Value: conv.Done()},
		{Key: "payload", Value: bson.Binary{Data: []byte(out)}}, {Key: "ok", Value: 1.0}}
}

// readWire reads one wire protocol message, header included.
func readWire(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(head[:])
	if n < 16 || n > 48<<20 {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

// msgBody is an OP_MSG's body document (its section of kind 0).
func msgBody(msg []byte) (bson.Raw, bool) {
	rest := msg[20:] // header, flag bits
	for len(rest) > 5 {
		kind := rest[0]
		size := int(binary.LittleEndian.Uint32(rest[1:5]))
		if size < 5 || size > len(rest)-1 {
			return nil, false
		}
		if kind == 0 {
			return bson.Raw(rest[1 : 1+size]), true
		}
		rest = rest[1+size:]
	}
	return nil, false
}

// writeMsg answers request reqID with an OP_MSG holding doc.
func writeMsg(w io.Writer, reqID uint32, doc bson.D) error {
	body, err := bson.Marshal(doc)
	if err != nil {
		return err
	}
	msg := make([]byte, 21, 21+len(body))
	binary.LittleEndian.PutUint32(msg[4:], reqID+1<<30)
	binary.LittleEndian.PutUint32(msg[8:], reqID)
	binary.LittleEndian.PutUint32(msg[12:], opMsg)
	msg = append(msg, body...) // flag bits 0, then section kind 0 at msg[20]
	binary.LittleEndian.PutUint32(msg[0:], uint32(len(msg)))
	_, err = w.Write(msg)
	return err
}
