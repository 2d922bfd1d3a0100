package advertise

import "errors"

var (
	// ErrNoPrivateIPv4 means no interface that is up carries a private IPv4
	// address (Private): there is nothing to advertise without being told.
	ErrNoPrivateIPv4 = errors.New("advertise: no private IPv4 address")
	// ErrSeveralPrivateIPv4 means more than one private IPv4 address is up:
	// Choose does not guess which one peers can reach.
	ErrSeveralPrivateIPv4 = errors.New("advertise: several private IPv4 addresses")
)
