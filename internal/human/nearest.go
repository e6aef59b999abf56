package human

// Nearest is the option a mistyped word most likely meant: the first of
// options at the smallest edit distance from word, if that distance is at
// most 2 (a transposition, or two wrong letters) and shorter than word (so
// "x" is not taken for "ca"); "" when none is that close, since a
// far-fetched guess misleads more than no guess. The config's
// unknown keys and the CLI's unknown commands both use it, so both guess
// alike.
func Nearest(word string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if d := editDistance(word, o); d < bestDist && d < len(word) {
			best, bestDist = o, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
