// Package prompt asks the operator, at a terminal, to confirm a repair
// plan by typing the lvstore's name or "yes".
package prompt

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lvfsck/lvfsck/repair"
)

// Confirm asks on w for the lvstore name (when the plan changes exactly
// one) or "yes", and reads one line of r. Anything else, or end of input,
// is a no; the end of ctx (Ctrl-C) ends the wait.
func Confirm(ctx context.Context, w io.Writer, r io.Reader, plan repair.Plan) (bool, error) {
	var stores []string
	for _, st := range plan.Steps {
		if st.Changes() && st.Lvstore != "" && !slices.Contains(stores, st.Lvstore) {
			stores = append(stores, st.Lvstore)
		}
	}
	prompt := `Type "yes" to apply this plan: `
	if len(stores) == 1 {
		prompt = fmt.Sprintf("Type the lvstore name (%s) or \"yes\" to apply this plan: ", stores[0])
	}
	if _, err := io.WriteString(w, "\n"+prompt); err != nil {
		return false, err
	}
	// One line, bounded: a confirmation is a word. Read aside, so that
	// Ctrl-C (which the command catches) ends the wait.
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		sc := bufio.NewScanner(io.LimitReader(r, 4096))
		if !sc.Scan() {
			got <- answer{err: cmp.Or(sc.Err(), io.EOF)}
			return
		}
		got <- answer{line: sc.Text()}
	}()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case a := <-got:
		if a.err != nil {
			return false, a.err
		}
		ans := strings.TrimSpace(a.line)
		return ans == "yes" || (len(stores) == 1 && ans == stores[0]), nil
	}
}
