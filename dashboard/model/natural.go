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
	zeros := 0 // the first difference in digit-run lengths: the tie-break
	i, j := 0, 0
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
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	return strings.Compare(a, b)
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
