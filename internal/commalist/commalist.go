// Package commalist splits the comma-separated lists that flags, files and
// URLs use ("a, b,,c" → a, b, c).
package commalist

import "strings"

// Split returns the items of s, trimmed of spaces, without empty ones.
func Split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
