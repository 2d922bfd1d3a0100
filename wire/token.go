package wire

import (
	"context"

	"google.golang.org/grpc/credentials"
)

// AuthorizationHeader is the gRPC metadata key that carries a bearer token,
// as "Bearer <token>" (see TokenCredentials).
const AuthorizationHeader = "authorization"

// TokenCredentials returns per-call credentials presenting token as
// "authorization: Bearer <token>". They are sent over plaintext
// connections too: without TLS anyone on the path can read the token.
func TokenCredentials(token string) credentials.PerRPCCredentials {
	return TokenSourceCredentials(func() string { return token })
}

// TokenSourceCredentials is TokenCredentials with the token read from token
// on every call, so that it may change (a token file being reloaded). token
// must be safe for concurrent use.
func TokenSourceCredentials(token func() string) credentials.PerRPCCredentials {
	return tokenCreds{tok: token}
}

type tokenCreds struct{ tok func() string }

func (c tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{AuthorizationHeader: "Bearer " + c.tok()}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return false }
