package repair

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential backoff with jitter, for retrying a busy
// delete on a target with the fixed semantics.
//
// The n-th delay (n from 0) is base = min(Max, Initial·Multiplier^n), then
// jittered uniformly within [base·(1-Jitter), base·(1+Jitter)] and capped
// at Max again, so the cap holds after jitter too.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64 // 0..1
	// Rand returns a number in [0,1); nil means math/rand/v2.
	Rand func() float64
}

// DefaultBackoff: a checksum of a large snapshot takes seconds, a shallow
// copy minutes; polling faster than every few seconds buys nothing.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// normalized fills zero or nonsensical fields with defaults.
func (b Backoff) normalized() Backoff {
	d := DefaultBackoff()
	if b.Initial <= 0 {
		b.Initial = d.Initial
	}
	if b.Max < b.Initial {
		b.Max = max(d.Max, b.Initial)
	}
	if b.Multiplier < 1 || math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) {
		b.Multiplier = d.Multiplier
	}
	if b.Jitter < 0 || b.Jitter > 1 || math.IsNaN(b.Jitter) {
		b.Jitter = d.Jitter
	}
	if b.Rand == nil {
		b.Rand = rand.Float64
	}
	return b
}

// Delay returns the wait before retry number attempt (0 = first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	b = b.normalized()
	if attempt < 0 {
		attempt = 0
	}
	// Float math with an early cap: no overflow however large attempt is.
	base := float64(b.Initial) * math.Pow(b.Multiplier, float64(attempt))
	if base > float64(b.Max) || math.IsInf(base, 0) || math.IsNaN(base) {
		base = float64(b.Max)
	}
	r := b.Rand()
	if r < 0 || r >= 1 || math.IsNaN(r) {
		r = 0.5
	}
	d := base * (1 + b.Jitter*(2*r-1))
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	if d < 1 {
		d = 1
	}
	return time.Duration(d)
}
