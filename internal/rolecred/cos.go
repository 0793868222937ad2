package rolecred

import (
	"net/http"
	"time"

	sdk "github.com/tencentyun/cos-go-sdk-v5"
)

// COSTransport signs each COS request with one consistent set of credentials from src (the SDK's
// own credential transport reads the id, key and token in three calls, which a rotation can split).
func COSTransport(src Source, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &cosTransport{src: src, base: base}
}

type cosTransport struct {
	src  Source
	base http.RoundTripper
}

func (t *cosTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := t.src.Credentials(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	sdk.AddAuthorizationHeader(c.ID, c.Key, c.Token, r, sdk.NewAuthTime(time.Hour))
	return t.base.RoundTrip(r)
}
