package repair

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	busy, nf, nm := errors.New("their busy"), errors.New("their not found"), errors.New("their no method")
	inv := errors.New("their invalid")
	conn := errors.New("connection reset")
	tests := []struct {
		in   error
		want error
	}{
		{fmt.Errorf("rpc bdev_lvol_delete: %w", busy), ErrBusy},
		{fmt.Errorf("rpc: %w", nf), ErrNotFound},
		{fmt.Errorf("rpc: %w", nm), ErrMethodNotFound},
		{fmt.Errorf("rpc: %w", inv), ErrInvalid},
		{conn, conn},
	}
	for _, tc := range tests {
		got := Classify(tc.in, busy, nf, nm, inv)
		require.ErrorIs(t, got, tc.want)
		require.ErrorIs(t, got, tc.in, "the original stays in the chain")
	}
	require.NoError(t, Classify(nil, busy, nf, nm, nil))
	require.NotErrorIs(t, Classify(conn, nil, nil, nil, nil), ErrBusy)
	require.False(t, errors.Is(Classify(fmt.Errorf("x: %w", busy), nil, busy, nil, nil), ErrBusy), "mapped as told")

	re := &RefusedError{Reason: ReasonExported, Lvol: "lvs-r/vol", Names: []string{"nqn.x nsid 1"}, Detail: "exported"}
	require.Equal(t, "refused (exported-nvmf) lvs-r/vol: exported [nqn.x nsid 1]; nothing was changed", re.Error())
	require.ErrorIs(t, fmt.Errorf("wrap: %w", re), ErrRefused)
	require.ErrorIs(t, &NotFoundError{Ref: "x"}, ErrNotFound)
}
