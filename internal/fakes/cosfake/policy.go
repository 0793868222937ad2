package cosfake

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// A CAM policy document, as CreatePolicy takes it.
type policyDoc struct {
	Version   string `json:"version"`
	Statement []struct {
		Effect   string `json:"effect"`
		Action   any    `json:"action"`   // a string or a list
		Resource any    `json:"resource"` // a string or a list
	} `json:"statement"`
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// AddRoleKey accepts a role's temporary key: as AddTemporaryKey, and each request must also be
// allowed by the role's policies as they are at that moment (a deny in any wins; nothing allowed is
// denied).
func (s *Server) AddRoleKey(id, key, token string, expires time.Time, policies func() []string) {
	s.mu.Lock()
	s.keys[id] = key
	s.tokens[id] = tempKey{token: token, expires: expires, policies: policies, scoped: true}
	s.mu.Unlock()
}

func parsePolicies(docs []string) []policyDoc {
	var out []policyDoc
	for _, p := range docs {
		var d policyDoc
		if json.Unmarshal([]byte(p), &d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// cosAction names the request as CAM does (name/cos:<Action>).
func cosAction(r *http.Request, key string) string {
	sub := subresource(r)
	if key == "" {
		verb := map[string]string{http.MethodGet: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete", http.MethodHead: "Head"}[r.Method]
		switch sub {
		case "acl":
			return verb + "BucketACL"
		case "cors":
			return verb + "BucketCORS"
		case "tagging":
			return verb + "BucketTagging"
		case "lifecycle":
			return verb + "BucketLifecycle"
		}
		return verb + "Bucket"
	}
	return map[string]string{http.MethodGet: "GetObject", http.MethodPut: "PutObject", http.MethodDelete: "DeleteObject", http.MethodHead: "HeadObject"}[r.Method]
}

// match is CAM's wildcard match: * stands for any run of characters.
func match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}

// allowed evaluates the policies for action on resource (qcs::cos:<region>:uid/<appid>:<bucket>/<key>).
func allowed(docs []policyDoc, action, resource string) bool {
	ok := false
	for _, d := range docs {
		for _, st := range d.Statement {
			actMatch, resMatch := false, false
			for _, a := range strs(st.Action) {
				if a == "*" || match(a, "name/cos:"+action) {
					actMatch = true
				}
			}
			for _, r := range strs(st.Resource) {
				if r == "*" || match(r, resource) {
					resMatch = true
				}
			}
			if actMatch && resMatch {
				if strings.EqualFold(st.Effect, "deny") {
					return false
				}
				if strings.EqualFold(st.Effect, "allow") {
					ok = true
				}
			}
		}
	}
	return ok
}

// resourceOf is the request's CAM resource.
func resourceOf(host, key string) string {
	name, _ := bucketOf(host)
	region := ""
	if parts := strings.Split(host, "."); len(parts) > 3 {
		region = parts[2]
	}
	appid := name[strings.LastIndex(name, "-")+1:]
	return "qcs::cos:" + region + ":uid/" + appid + ":" + name + "/" + key
}
