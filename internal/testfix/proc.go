package testfix

import "strings"

// StatLine is a /proc/<pid>/stat line of 52 fields whose field 22
// (starttime) is 123456, for fake proc trees.
func StatLine(pid, comm string) string {
	f := []string{"S"} // field 3
	for i := 4; i <= 21; i++ {
		f = append(f, "7")
	}
	f = append(f, "123456") // field 22
	for i := 23; i <= 52; i++ {
		f = append(f, "0")
	}
	return pid + " (" + comm + ") " + strings.Join(f, " ") + "\n"
}
