package report

// Failure is a command that could not do its job: Code is its exit code
// (the Exit* values), Err what to tell the operator. Packages that run a
// command's job return it so that the CLI needs no knowledge of why.
type Failure struct {
	Code int
	Err  error
}

// Fail returns a Failure of code.
func Fail(code int, err error) *Failure { return &Failure{Code: code, Err: err} }

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }
