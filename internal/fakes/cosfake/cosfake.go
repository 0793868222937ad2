// Package cosfake is a stand-in for Tencent Cloud COS that the official Go SDK talks to in tests and
// local development. It checks the q-sign signature exactly as COS does, keeps buckets and objects in
// memory, and can inject faults (5xx answers, slow answers, dropped connections).
//
// Requests are routed by Host, as the real service is: <bucket>.cos.<region>.myqcloud.com. Point the
// SDK's transport at Addr with a DialContext and keep the real bucket URL.
package cosfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Object is a stored object.
type Object struct {
	ACL         string // "" (the bucket's) or "private"
	Data        []byte
	ContentType string
	ETag        string
	Modified    time.Time
	SSE         string // x-cos-server-side-encryption asked for at upload: "" or AES256
}

type bucket struct {
	acl       string // "private" or "public-read"
	cors      []byte // the CORS configuration as PUT, nil when none
	tagging   []byte // the tag set as PUT, nil when none
	lifecycle []byte // the lifecycle rules as PUT, nil when none
	objects   map[string]*Object
}

// Server is the stand-in.
type Server struct {
	Addr string

	mu       sync.Mutex
	keys     map[string]string  // SecretId → SecretKey
	tokens   map[string]tempKey // temporary SecretIds: their token and expiry
	foreign  map[string]bool    // buckets of another account: their names are taken, our keys refused
	buckets  map[string]*bucket
	faults   []fault
	requests int
	writes   int // PUT, POST and DELETE requests answered 2xx

	srv *http.Server
	ln  net.Listener
}

type fault struct {
	status int           // answer this status
	delay  time.Duration // or wait this long first
	drop   bool          // or close the connection without an answer
	lose   bool          // or carry the request out, then close without an answer
}

type tempKey struct {
	token    string
	expires  time.Time
	policies func() []string // a role's key: its policies now (scoped)
	scoped   bool
}

// AddTemporaryKey accepts a temporary key (STS): its requests must carry the token, in
// x-cos-security-token (header, or query for a presigned URL), until it expires.
func (s *Server) AddTemporaryKey(id, key, token string, expires time.Time) {
	s.mu.Lock()
	s.keys[id] = key
	s.tokens[id] = tempKey{token: token, expires: expires}
	s.mu.Unlock()
}

// AddForeignBucket makes a bucket of another account: its name is taken, and our keys are refused.
func (s *Server) AddForeignBucket(name string) { s.mu.Lock(); s.foreign[name] = true; s.mu.Unlock() }

// LoseAnswerNext carries out the next n requests and closes their connections without an answer.
func (s *Server) LoseAnswerNext(n int) { s.push(n, fault{lose: true}) }

// New starts a stand-in on a loopback port that accepts the given credentials.
func New(secretID, secretKey string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), keys: map[string]string{secretID: secretKey}, tokens: map[string]tempKey{}, foreign: map[string]bool{}, buckets: map[string]*bucket{}, ln: ln}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// CreateBucket makes a bucket directly, as if created in the console.
func (s *Server) CreateBucket(name, acl string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[name] = &bucket{acl: acl, objects: map[string]*Object{}}
}

// Lifecycle is the bucket's lifecycle configuration as PUT (nil: none).
func (s *Server) Lifecycle(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[name]; b != nil {
		return b.lifecycle
	}
	return nil
}

// Object returns a stored object (nil: none).
func (s *Server) Object(bucket, key string) *Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[bucket]; b != nil {
		return b.objects[key]
	}
	return nil
}

// Damage flips a bit in the middle of a stored object, as a disk fault would; it reports whether the
// object exists. The object is replaced, not changed in place: an answer being sent keeps its bytes.
func (s *Server) Damage(bucket, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucket]
	if b == nil || b.objects[key] == nil {
		return false
	}
	o := *b.objects[key]
	o.Data = append([]byte(nil), o.Data...)
	o.Data[len(o.Data)/2] ^= 0x40
	b.objects[key] = &o
	return true
}

// Objects lists the keys of a bucket, sorted.
func (s *Server) Objects(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return nil
	}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// FailNext makes the next n requests answer status.
func (s *Server) FailNext(n, status int) { s.push(n, fault{status: status}) }

// DelayNext makes the next n requests wait d before being served.
func (s *Server) DelayNext(n int, d time.Duration) { s.push(n, fault{delay: d}) }

// DropNext makes the next n requests lose their connection without an answer.
func (s *Server) DropNext(n int) { s.push(n, fault{drop: true}) }

// FailAll makes every request answer status until Heal.
func (s *Server) FailAll(status int) { s.push(1<<30, fault{status: status}) }

// Heal clears every pending fault.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetACL changes a bucket's canned ACL, as the console would.
func (s *Server) SetACL(name, acl string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[name]; b != nil {
		b.acl = acl
	}
}

// Writes returns how many requests changed state (PUT, POST, DELETE answered 2xx).
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Bucket describes a bucket: whether it exists, its canned ACL, and whether it has CORS and tags.
func (s *Server) Bucket(name string) (exists bool, acl string, cors, tagged bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		return false, "", false, false
	}
	return true, b.acl, b.cors != nil, b.tagging != nil
}

// subresource returns the bucket sub-resource a request addresses (acl, cors, tagging), if any.
func subresource(r *http.Request) string {
	q := r.URL.Query()
	for _, k := range []string{"acl", "cors", "tagging", "lifecycle"} {
		if _, ok := q[k]; ok {
			return k
		}
	}
	return ""
}

// Requests counts the requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) push(n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 1<<20 {
		s.faults = []fault{{status: -f.status}} // sticky
		return
	}
	for i := 0; i < n; i++ {
		s.faults = append(s.faults, f)
	}
}

func (s *Server) nextFault() (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if len(s.faults) == 0 {
		return fault{}, false
	}
	f := s.faults[0]
	if f.status < 0 {
		return fault{status: -f.status}, true
	}
	s.faults = s.faults[1:]
	return f, true
}

type cosError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Cos-Request-Id", requestID())
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = xml.NewEncoder(w).Encode(cosError{Code: code, Message: msg, Resource: r.Host + r.URL.Path, RequestID: w.Header().Get("X-Cos-Request-Id")})
}

var reqSeq struct {
	sync.Mutex
	n int
}

func requestID() string {
	reqSeq.Lock()
	defer reqSeq.Unlock()
	reqSeq.n++
	return fmt.Sprintf("NjU%016x", reqSeq.n)
}

// bucketOf returns the bucket name from a virtual-hosted Host.
func bucketOf(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	name, rest, ok := strings.Cut(host, ".")
	if !ok || !strings.HasPrefix(rest, "cos.") || !strings.HasSuffix(rest, ".myqcloud.com") {
		return "", false
	}
	return name, true
}

// ServeHTTP implements the subset of the COS XML API the project uses.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.nextFault(); ok {
		switch {
		case f.lose:
			if hj, ok := w.(http.Hijacker); ok {
				rec := &discardWriter{header: http.Header{}}
				s.serve(rec, r)
				c, _, _ := hj.Hijack()
				c.Close()
				return
			}
		case f.drop:
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
				return
			}
		case f.delay > 0:
			time.Sleep(f.delay)
		default:
			io.Copy(io.Discard, r.Body)
			writeError(w, r, f.status, "InternalError", "injected fault")
			return
		}
	}
	s.serve(w, r)
}

// discardWriter takes an answer nobody will read.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	name, ok := bucketOf(r.Host)
	if !ok {
		writeError(w, r, http.StatusBadRequest, "InvalidURI", "host is not <bucket>.cos.<region>.myqcloud.com")
		return
	}
	s.mu.Lock()
	foreign := s.foreign[name]
	s.mu.Unlock()
	if foreign {
		if r.Method == http.MethodPut && r.URL.Path == "/" && r.URL.RawQuery == "" {
			writeError(w, r, http.StatusConflict, "BucketAlreadyExists", "The requested bucket name is not available.")
		} else {
			writeError(w, r, http.StatusForbidden, "AccessDenied", "Access Denied.")
		}
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/")
	signed := r.Header.Get("Authorization") != "" || r.URL.Query().Get("q-signature") != ""
	if signed {
		if code, msg := s.verify(r); code != "" {
			writeError(w, r, http.StatusForbidden, code, msg)
			return
		}
	}
	s.mu.Lock()
	b := s.buckets[name]
	public := b != nil && b.acl == "public-read"
	s.mu.Unlock()
	anonymousRead := false
	if !signed && b != nil && key != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// An object's own ACL wins over the bucket's: a private object in a public-read bucket is
		// private, a public-read object in a private bucket is public.
		s.mu.Lock()
		o := b.objects[key]
		anonymousRead = public
		if o != nil && o.ACL == "private" {
			anonymousRead = false
		}
		if o != nil && o.ACL == "public-read" {
			anonymousRead = true
		}
		s.mu.Unlock()
	}
	if !signed && !anonymousRead {
		writeError(w, r, http.StatusForbidden, "AccessDenied", "Access Denied.")
		return
	}
	w.Header().Set("X-Cos-Request-Id", requestID())
	if key == "" {
		s.serveBucket(w, r, name, b)
		return
	}
	if b == nil {
		writeError(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
		return
	}
	s.serveObject(w, r, b, key)
}

func (s *Server) serveBucket(w http.ResponseWriter, r *http.Request, name string, b *bucket) {
	switch r.Method {
	case http.MethodPut:
		if sub := subresource(r); sub != "" {
			if b == nil {
				writeError(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
				return
			}
			body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
			s.mu.Lock()
			switch sub {
			case "acl":
				acl := r.Header.Get("X-Cos-Acl")
				if acl == "" {
					acl = "private"
				}
				b.acl = acl
			case "cors":
				b.cors = body
			case "tagging":
				b.tagging = body
			case "lifecycle":
				b.lifecycle = body
			}
			s.writes++
			s.mu.Unlock()
			w.WriteHeader(http.StatusOK)
			return
		}
		if b != nil {
			writeError(w, r, http.StatusConflict, "BucketAlreadyExists", "The requested bucket name is not available.")
			return
		}
		acl := r.Header.Get("X-Cos-Acl")
		if acl == "" {
			acl = "private"
		}
		s.CreateBucket(name, acl)
		s.mu.Lock()
		if t := r.Header.Get("X-Cos-Tagging"); t != "" { // tags in the creating request
			vals, _ := url.ParseQuery(t)
			var x strings.Builder
			x.WriteString("<Tagging><TagSet>")
			for k, vs := range vals {
				fmt.Fprintf(&x, "<Tag><Key>%s</Key><Value>%s</Value></Tag>", k, vs[0])
			}
			x.WriteString("</TagSet></Tagging>")
			s.buckets[name].tagging = []byte(x.String())
		}
		s.writes++
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case http.MethodHead:
		if b == nil {
			writeError(w, r, http.StatusNotFound, "NoSuchBucket", "")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		if b == nil {
			writeError(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
			return
		}
		if subresource(r) == "lifecycle" {
			b.lifecycle = nil
			s.writes++
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if len(b.objects) > 0 {
			writeError(w, r, http.StatusConflict, "BucketNotEmpty", "The bucket you tried to delete is not empty.")
			return
		}
		delete(s.buckets, name)
		s.writes++
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		if b == nil {
			writeError(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
			return
		}
		switch subresource(r) {
		case "acl":
			s.writeACL(w, b)
			return
		case "cors", "tagging", "lifecycle":
			s.mu.Lock()
			body := b.cors
			code, msg := "NoSuchCORSConfiguration", "The CORS configuration does not exist."
			switch subresource(r) {
			case "tagging":
				body, code, msg = b.tagging, "NoSuchTagSet", "There is no tag set."
			case "lifecycle":
				body, code, msg = b.lifecycle, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist."
			}
			s.mu.Unlock()
			if body == nil {
				writeError(w, r, http.StatusNotFound, code, msg)
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			w.Write(body)
			return
		}
		s.list(w, r, name, b)
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
	}
}

func (s *Server) writeACL(w http.ResponseWriter, b *bucket) {
	s.mu.Lock()
	acl := b.acl
	s.mu.Unlock()
	grants := `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>qcs::cam::uin/1:uin/1</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>`
	if acl == "public-read" {
		grants += `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://cam.qcloud.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>`
	}
	w.Header().Set("Content-Type", "application/xml")
	fmt.Fprintf(w, `<AccessControlPolicy><Owner><ID>qcs::cam::uin/1:uin/1</ID></Owner><AccessControlList>%s</AccessControlList></AccessControlPolicy>`, grants)
}

type listResult struct {
	XMLName     xml.Name  `xml:"ListBucketResult"`
	Name        string    `xml:"Name"`
	Prefix      string    `xml:"Prefix"`
	Marker      string    `xml:"Marker"`
	MaxKeys     int       `xml:"MaxKeys"`
	IsTruncated bool      `xml:"IsTruncated"`
	NextMarker  string    `xml:"NextMarker,omitempty"`
	Contents    []content `xml:"Contents"`
}

type content struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, name string, b *bucket) {
	q := r.URL.Query()
	prefix, marker := q.Get("prefix"), q.Get("marker")
	max := 1000
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, http.StatusBadRequest, "InvalidArgument", "max-keys")
			return
		}
		max = min(n, 1000)
	}
	s.mu.Lock()
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) && k > marker {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	res := listResult{Name: name, Prefix: prefix, Marker: marker, MaxKeys: max}
	if len(keys) > max {
		keys = keys[:max]
		res.IsTruncated = true
		if max > 0 {
			res.NextMarker = keys[max-1]
		}
	}
	for _, k := range keys {
		o := b.objects[k]
		res.Contents = append(res.Contents, content{Key: k, LastModified: o.Modified.UTC().Format("2006-01-02T15:04:05.000Z"), ETag: o.ETag, Size: int64(len(o.Data)), StorageClass: "STANDARD"})
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	_ = xml.NewEncoder(w).Encode(res)
}

var crcTable = crc64.MakeTable(crc64.ECMA)

func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, b *bucket, key string) {
	switch r.Method {
	case http.MethodPut:
		if r.ContentLength < 0 && r.Header.Get("Transfer-Encoding") == "" {
			writeError(w, r, http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client went away: nothing is stored
		}
		if r.ContentLength >= 0 && int64(len(data)) != r.ContentLength {
			writeError(w, r, http.StatusBadRequest, "IncompleteBody", "")
			return
		}
		sse := r.Header.Get("X-Cos-Server-Side-Encryption")
		if sse != "" && sse != "AES256" {
			writeError(w, r, http.StatusBadRequest, "InvalidArgument", "The encryption method specified is not supported")
			return
		}
		sum := md5.Sum(data)
		o := &Object{SSE: sse, ACL: r.Header.Get("X-Cos-Acl"), Data: data, ContentType: r.Header.Get("Content-Type"), ETag: `"` + hex.EncodeToString(sum[:]) + `"`, Modified: time.Now()}
		if o.ContentType == "" {
			o.ContentType = "application/octet-stream"
		}
		s.mu.Lock()
		b.objects[key] = o
		s.writes++
		s.mu.Unlock()
		w.Header().Set("ETag", o.ETag)
		w.Header().Set("x-cos-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(data, crcTable), 10))
		w.WriteHeader(http.StatusOK)
	case http.MethodGet, http.MethodHead:
		s.mu.Lock()
		o := b.objects[key]
		s.mu.Unlock()
		if o == nil {
			writeError(w, r, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("Content-Type", o.ContentType)
		w.Header().Set("ETag", o.ETag)
		if o.SSE != "" {
			w.Header().Set("x-cos-server-side-encryption", o.SSE)
		}
		w.Header().Set("x-cos-hash-crc64ecma", strconv.FormatUint(crc64.Checksum(o.Data, crcTable), 10))
		http.ServeContent(w, r, "", o.Modified, bytes.NewReader(o.Data))
	case http.MethodDelete:
		s.mu.Lock()
		delete(b.objects, key) // COS answers 204 whether or not the key existed
		s.writes++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "")
	}
}

// verify checks a q-sign signature from the Authorization header or the query (presigned URLs).
func (s *Server) verify(r *http.Request) (code, msg string) {
	var params url.Values
	if a := r.Header.Get("Authorization"); a != "" {
		// Not url.ParseQuery: the lists inside are ;-separated, which it refuses.
		params = url.Values{}
		for _, kv := range strings.Split(a, "&") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return "AccessDenied", "malformed Authorization"
			}
			params.Set(k, v)
		}
	} else {
		params = r.URL.Query()
	}
	get := params.Get
	if get("q-sign-algorithm") != "sha1" {
		return "AccessDenied", "q-sign-algorithm must be sha1"
	}
	s.mu.Lock()
	secret, ok := s.keys[get("q-ak")]
	temp, isTemp := s.tokens[get("q-ak")]
	s.mu.Unlock()
	if !ok {
		return "InvalidAccessKeyId", "The access key Id format you provided is invalid."
	}
	if isTemp {
		token := r.Header.Get("X-Cos-Security-Token")
		if token == "" {
			token = r.URL.Query().Get("x-cos-security-token")
		}
		switch {
		case token == "":
			return "InvalidAccessKeyId", "The access key Id format you provided is invalid: a temporary key needs x-cos-security-token."
		case token != temp.token:
			return "InvalidToken", "The provided token is malformed or otherwise invalid."
		case time.Now().After(temp.expires):
			return "ExpiredToken", "The provided token has expired."
		}
	}
	signTime, keyTime := get("q-sign-time"), get("q-key-time")
	start, end, ok := parseWindow(signTime)
	now := time.Now().Unix()
	if !ok {
		return "AccessDenied", "malformed q-sign-time"
	}
	if now < start-300 || now > end {
		return "RequestTimeTooSkewed", "the request time is outside q-sign-time"
	}

	headerList := splitList(get("q-header-list"))
	hs := map[string][]string{}
	for _, h := range headerList {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			if v := r.Header.Values("Content-Length"); len(v) > 0 {
				vals = v
			} else {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			vals = r.Header.Values(h)
		}
		if len(vals) == 0 {
			return "AccessDenied", "signed header " + h + " is missing"
		}
		hs[h] = append(hs[h], vals...)
	}
	paramList := splitList(get("q-url-param-list"))
	q := r.URL.Query()
	ps := map[string][]string{}
	for k, vs := range q {
		lk := strings.ToLower(encode(k))
		if strings.HasPrefix(lk, "q-") && r.Header.Get("Authorization") == "" {
			continue // a presigned URL's own fields
		}
		ps[lk] = append(ps[lk], vs...)
	}
	for _, p := range paramList {
		if _, ok := ps[p]; !ok {
			return "AccessDenied", "signed parameter " + p + " is missing"
		}
	}
	for k := range ps {
		if !contains(paramList, k) {
			delete(ps, k) // unsigned parameters do not take part
		}
	}
	format := strings.ToLower(r.Method) + "\n" + r.URL.Path + "\n" + join(ps) + "\n" + join(hs) + "\n"
	h := sha1.Sum([]byte(format))
	stringToSign := "sha1\n" + signTime + "\n" + hex.EncodeToString(h[:]) + "\n"
	signKey := hex.EncodeToString(hmacSHA1([]byte(secret), keyTime))
	want := hex.EncodeToString(hmacSHA1([]byte(signKey), stringToSign))
	if !hmac.Equal([]byte(want), []byte(get("q-signature"))) {
		return "SignatureDoesNotMatch", "The calculated signature does not match the one you provided."
	}
	if isTemp && temp.scoped { // a role's key: its policies, as they are now, must allow the request
		key := strings.TrimPrefix(r.URL.Path, "/")
		if action, res := cosAction(r, key), resourceOf(r.Host, key); !allowed(parsePolicies(temp.policies()), action, res) {
			return "AccessDenied", "Access Denied: the role's policies do not allow " + action + " on " + res + "."
		}
	}
	return "", ""
}

func hmacSHA1(key []byte, msg string) []byte {
	m := hmac.New(sha1.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func parseWindow(s string) (int64, int64, bool) {
	a, b, ok := strings.Cut(s, ";")
	if !ok {
		return 0, 0, false
	}
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return x, y, err1 == nil && err2 == nil && x <= y
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ";")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// join formats lower-cased keys, sorted, as k=encode(v) pairs joined by &; values of a key are sorted.
func join(m map[string][]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vals := append([]string(nil), m[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			pairs = append(pairs, k+"="+encode(v))
		}
	}
	return strings.Join(pairs, "&")
}

// encode percent-encodes all but A-Z a-z 0-9 - _ . ~, as COS's signature does.
func encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
