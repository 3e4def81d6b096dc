package model

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CompareIDs orders driver ids naturally and returns -1, 0 or +1: runs of
// ASCII digits compare by their numeric value ("sim-2" before "sim-10"),
// everything else rune by rune ignoring case ("Sim-3" between "sim-2" and
// "sim-4"). Ids that are equal under those rules are ordered by the length
// of their digit runs ("a1" before "a01"), then byte by byte ("A1" before
// "a1"), so CompareIDs is a total order and returns 0 only for identical
// strings. Digits of other scripts and invalid UTF-8 compare as runes,
// never as numbers. It does not allocate, and numbers of any length compare
// correctly (no integer overflow).
func CompareIDs(a, b string) int {
	// Skip the common prefix (fleet ids mostly share one), backed up to the
	// start of a rune and of a digit run: identical tokens compare equal
	// under every rule below and never break a tie.
	p, n := 0, min(len(a), len(b))
	for p < n && a[p] == b[p] {
		p++
	}
	if p == len(a) && p == len(b) {
		return 0
	}
	for p > 0 && ((p < len(a) && !utf8.RuneStart(a[p])) || (p < len(b) && !utf8.RuneStart(b[p]))) {
		p--
	}
	for p > 0 && isDigit(a[p-1]) {
		p--
	}
	zeros := 0 // the first difference in digit-run lengths: the tie-break
	i, j := p, p
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			ei, ej := digitRun(a, i), digitRun(b, j)
			if c := compareNumbers(a[i:ei], b[j:ej]); c != 0 {
				return c
			}
			if zeros == 0 && ei-i != ej-j {
				zeros = cmpInt(ei-i, ej-j)
			}
			i, j = ei, ej
			continue
		}
		if ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			// ASCII: the common case, no decoding.
			if ca, cb = lowerASCII(ca), lowerASCII(cb); ca != cb {
				return cmpInt(int(ca), int(cb))
			}
			i, j = i+1, j+1
			continue
		}
		ra, wa := utf8.DecodeRuneInString(a[i:])
		rb, wb := utf8.DecodeRuneInString(b[j:])
		if ra, rb = unicode.ToLower(ra), unicode.ToLower(rb); ra != rb {
			return cmpInt(int(ra), int(rb))
		}
		i, j = i+wa, j+wb
	}
	switch {
	case i < len(a):
		return 1 // b is a prefix of a (under these rules)
	case j < len(b):
		return -1
	case zeros != 0:
		return zeros
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// digitRun returns the end of the run of digits starting at s[i].
func digitRun(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// compareNumbers compares two runs of digits by value.
func compareNumbers(a, b string) int {
	for len(a) > 0 && a[0] == '0' {
		a = a[1:]
	}
	for len(b) > 0 && b[0] == '0' {
		b = b[1:]
	}
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	for k := 0; k < len(a); k++ {
		if a[k] != b[k] {
			return cmpInt(int(a[k]), int(b[k]))
		}
	}
	return 0
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// idKey is a byte string whose order (strings.Compare) is CompareIDs' order
// up to its tie-breaks: where two ids' keys differ they compare as the ids
// do, and where they are equal CompareIDs decides. The list sorts thousands
// of rows on every redraw, and comparing keys is several times faster than
// CompareIDs; the fleet computes each id's key once.
//
// A digit run becomes '0', its count of significant digits (one byte below
// 255, else 255 and four bytes) and those digits; any other rune its lower
// case in UTF-8 (U+FFFD for invalid bytes). No rune but a digit encodes to
// '0'…'9', so a number sorts against a rune as its first digit does, and
// UTF-8 keeps the order of code points.
func idKey(id string) string {
	key := make([]byte, 0, len(id)+4)
	for i := 0; i < len(id); {
		c := id[i]
		switch {
		case isDigit(c):
			end := digitRun(id, i)
			for i < end && id[i] == '0' {
				i++
			}
			n := end - i
			key = append(key, '0')
			if n < 255 {
				key = append(key, byte(n))
			} else {
				key = append(key, 255, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			}
			key = append(key, id[i:end]...)
			i = end
		case c < utf8.RuneSelf:
			key = append(key, lowerASCII(c))
			i++
		default:
			r, w := utf8.DecodeRuneInString(id[i:])
			key = utf8.AppendRune(key, unicode.ToLower(r))
			i += w
		}
	}
	return string(key)
}

// compareKeyed is CompareIDs(a, b) given their keys (idKey).
func compareKeyed(a, keyA, b, keyB string) int {
	if c := strings.Compare(keyA, keyB); c != 0 {
		return c
	}
	return CompareIDs(a, b)
}
