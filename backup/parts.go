package backup

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// KeySize is the size of an encryption key: AES-256.
const KeySize = 32

// Key is a backup encryption key, with what is derived from it.
type Key struct {
	aead  cipher.AEAD
	idKey []byte
	ID    string // names the key in manifests without revealing it
}

// ParseKey reads a key file's content: 64 hex digits or 44 base64 characters (32 random bytes, e.g.
// from `openssl rand -hex 32`), surrounding space ignored.
func ParseKey(b []byte) (*Key, error) {
	s := strings.TrimSpace(string(b))
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != KeySize {
		raw, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(raw) != KeySize {
		return nil, errors.New("a key is 32 random bytes written as 64 hex digits; make one with `openssl rand -hex 32`")
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, raw)
		m.Write([]byte("applet backup " + label))
		return m.Sum(nil)
	}
	block, _ := aes.NewCipher(derive("encryption"))
	aead, _ := cipher.NewGCM(block)
	return &Key{aead: aead, idKey: derive("id"), ID: hex.EncodeToString(derive("key id"))[:16]}, nil
}

// ReadKeyFile reads a key from a file, with an error that names the file.
func ReadKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the backup key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("backup key %s: %w", path, err)
	}
	return k, nil
}

// digest is SHA-256, or HMAC-SHA-256 under the key's id key when encrypted.
func (k *Key) digest() hash.Hash {
	if k == nil {
		return sha256.New()
	}
	return hmac.New(sha256.New, k.idKey)
}

// seal turns a plain chunk into what is stored: gzip, then AES-GCM with a random nonce before it.
func (k *Key) seal(plain []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(plain); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if k == nil {
		return buf.Bytes(), nil
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+buf.Len()+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, buf.Bytes(), nil), nil
}

// open turns stored bytes back into the plain chunk and checks it is the part the manifest names.
func (k *Key) open(stored []byte, p Part) ([]byte, error) {
	if int64(len(stored)) != p.Stored {
		return nil, fmt.Errorf("part %s: %d bytes stored, the manifest says %d", p.ID, len(stored), p.Stored)
	}
	if k != nil {
		n := k.aead.NonceSize()
		if len(stored) < n {
			return nil, fmt.Errorf("part %s: too short to be encrypted", p.ID)
		}
		var err error
		stored, err = k.aead.Open(nil, stored[:n], stored[n:], nil)
		if err != nil {
			return nil, fmt.Errorf("part %s: does not decrypt with this key (damaged, or another key)", p.ID)
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		return nil, fmt.Errorf("part %s: damaged: %w", p.ID, err)
	}
	plain := make([]byte, 0, p.Size)
	buf := bytes.NewBuffer(plain)
	if _, err := io.Copy(buf, io.LimitReader(zr, p.Size+1)); err != nil {
		return nil, fmt.Errorf("part %s: damaged: %w", p.ID, err)
	}
	plain = buf.Bytes()
	h := k.digest()
	h.Write(plain)
	if int64(len(plain)) != p.Size || hex.EncodeToString(h.Sum(nil)) != p.ID {
		return nil, fmt.Errorf("part %s: content does not match its digest (damaged)", p.ID)
	}
	return plain, nil
}

func partName(id string) string { return "parts/" + id[:2] + "/" + id }

// Chunk sizes: cut where the content says, between min and max, about avg apart.
const (
	chunkMin  = 256 << 10
	chunkMax  = 4 << 20
	chunkBits = 20 // average 1 MiB
)

// gear is the rolling hash's table: fixed, so the same content cuts at the same places in every backup.
var gear = func() (t [256]uint64) {
	x := uint64(0x6170706c65746b76)
	for i := range t {
		// splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return t
}()

// chunker cuts a stream into content-defined chunks.
type chunker struct {
	r          io.Reader
	buf        []byte
	start, end int
	eof        bool
}

func newChunker(r io.Reader) *chunker { return &chunker{r: r, buf: make([]byte, 2*chunkMax)} }

// next returns the next chunk (valid until the next call), or io.EOF.
func (c *chunker) next() ([]byte, error) {
	if c.start > chunkMax || (c.end == len(c.buf) && c.start > 0) {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	for !c.eof && c.end-c.start < chunkMax {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if err == io.EOF {
			c.eof = true
		} else if err != nil {
			return nil, err
		}
	}
	data := c.buf[c.start:c.end]
	if len(data) == 0 {
		return nil, io.EOF
	}
	cut := len(data)
	if cut > chunkMax {
		cut = chunkMax
	}
	const mask = (uint64(1)<<chunkBits - 1) << (64 - chunkBits)
	if cut > chunkMin {
		var h uint64
		for i := chunkMin - 64; i < cut; i++ { // the hash only remembers its last 64 bytes
			h = h<<1 + gear[data[i]]
			if i >= chunkMin && h&mask == 0 {
				cut = i + 1
				break
			}
		}
	}
	c.start += cut
	return data[:cut], nil
}
