package rolecred

import (
	"context"
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

// GetCredential is how the COS SDK asks a transport for the credentials a presigned URL is signed
// with (GetPresignedURL2).
func (t *cosTransport) GetCredential() (string, string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := t.src.Credentials(ctx)
	return c.ID, c.Key, c.Token, err
}
