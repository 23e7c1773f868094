package repair

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffDelays(t *testing.T) {
	fixed := func(r float64) func() float64 { return func() float64 { return r } }
	b := Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2}
	tests := []struct {
		name    string
		rand    float64
		attempt int
		want    time.Duration
	}{
		{"first, no jitter", 0.5, 0, 100 * time.Millisecond},
		{"grows", 0.5, 1, 200 * time.Millisecond},
		{"grows more", 0.5, 3, 800 * time.Millisecond},
		{"capped", 0.5, 5, 2 * time.Second},
		{"capped far out", 0.5, 10_000, 2 * time.Second},
		{"low jitter bound", 0, 2, 320 * time.Millisecond},
		{"high jitter bound", 0.999999, 2, 479_999_840 * time.Nanosecond},
		{"jitter never exceeds the cap", 0.999999, 9, 2 * time.Second},
		{"jitter below the cap", 0, 9, 1600 * time.Millisecond},
		{"negative attempt is the first", 0.5, -3, 100 * time.Millisecond},
		{"bad rand is ignored", math.NaN(), 1, 200 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bb := b
			bb.Rand = fixed(tc.rand)
			require.InDelta(t, float64(tc.want), float64(bb.Delay(tc.attempt)), float64(time.Microsecond))
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	b := DefaultBackoff()
	b.Rand = nil // the real source
	for attempt := range 12 {
		base := min(float64(b.Initial)*math.Pow(b.Multiplier, float64(attempt)), float64(b.Max))
		for range 200 {
			d := float64(b.Delay(attempt))
			require.GreaterOrEqual(t, d, base*(1-b.Jitter)-1)
			require.LessOrEqual(t, d, math.Min(base*(1+b.Jitter), float64(b.Max))+1)
		}
	}
}

func TestBackoffNormalizesNonsense(t *testing.T) {
	for _, b := range []Backoff{{}, {Initial: -1, Max: -1, Multiplier: 0.5, Jitter: 7}, {Initial: time.Second, Multiplier: math.Inf(1)}} {
		b.Rand = func() float64 { return 0.5 }
		d0, d1 := b.Delay(0), b.Delay(1)
		require.Positive(t, d0)
		require.GreaterOrEqual(t, d1, d0)
		require.LessOrEqual(t, b.Delay(1000), max(DefaultBackoff().Max, b.Initial))
	}
}

// The retry schedule a busy delete follows on the fake clock: growing,
// capped, and the last wait cut so that the last attempt lands on the
// deadline.
func TestBackoffScheduleStopsAtDeadline(t *testing.T) {
	w := newWorld(t, SemanticsKeepListed, false)
	w.checksum(uuidSnapX, time.Hour)
	w.del.Backoff = Backoff{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2, Jitter: 0, Rand: func() float64 { return 0.5 }}
	_, err := w.del.Delete(context.Background(), Request{Ref: UUIDRef(uuidSnapX), Wait: 20 * time.Second})
	require.ErrorIs(t, err, ErrRefused)
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, time.Second}, w.clk.Slept())
	require.Equal(t, 20*time.Second, w.clk.Now().Sub(t0))
	require.Equal(t, 8, w.target.called("bdev_lvol_delete"))

	// MaxAttempts caps the calls whatever the wait.
	w = newWorld(t, SemanticsKeepListed, false)
	w.checksum(uuidSnapX, time.Hour)
	w.del.MaxAttempts = 3
	res, err := w.del.Delete(context.Background(), Request{Ref: UUIDRef(uuidSnapX), Wait: time.Hour})
	require.ErrorIs(t, err, ErrRefused)
	require.Equal(t, 3, res.Attempts)
}

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(t0)
	early, late, now := c.After(time.Second), c.After(time.Minute), c.After(0)
	requireFired := func(ch <-chan time.Time, fired bool) {
		t.Helper()
		select {
		case <-ch:
			require.True(t, fired, "fired too early")
		default:
			require.False(t, fired, "did not fire")
		}
	}
	requireFired(now, true)
	requireFired(early, false)
	c.Advance(999 * time.Millisecond)
	requireFired(early, false)
	require.NoError(t, c.Sleep(context.Background(), time.Millisecond))
	requireFired(early, true)
	requireFired(late, false)
	c.Advance(time.Hour)
	requireFired(late, true)
	require.Equal(t, t0.Add(time.Hour+time.Second), c.Now())

	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.Sleep(cctx, time.Second), context.Canceled)
	require.ErrorIs(t, RealClock{}.Sleep(cctx, time.Hour), context.Canceled, "the real clock honours ctx too")
	require.NoError(t, RealClock{}.Sleep(context.Background(), 0))
}
