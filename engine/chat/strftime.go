package chat

import (
	"fmt"
	"strings"
	"time"
)

// strftime formats t with a Python/C strftime pattern, including glibc's
// "%-d"-style no-padding flag that chat templates use.
func strftime(t time.Time, pattern string) string {
	var out strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '%' || i+1 == len(pattern) {
			out.WriteByte(pattern[i])
			continue
		}
		i++
		noPad := pattern[i] == '-' && i+1 < len(pattern)
		if noPad {
			i++
		}
		out.WriteString(strftimeVerb(t, pattern[i], noPad))
	}
	return out.String()
}

func strftimeVerb(t time.Time, verb byte, noPad bool) string {
	num := func(n, width int) string {
		if noPad {
			return fmt.Sprint(n)
		}
		return fmt.Sprintf("%0*d", width, n)
	}
	switch verb {
	case 'Y':
		return fmt.Sprint(t.Year())
	case 'y':
		return num(t.Year()%100, 2)
	case 'm':
		return num(int(t.Month()), 2)
	case 'd':
		return num(t.Day(), 2)
	case 'e':
		return fmt.Sprintf("%2d", t.Day())
	case 'H':
		return num(t.Hour(), 2)
	case 'I':
		return num((t.Hour()+11)%12+1, 2)
	case 'M':
		return num(t.Minute(), 2)
	case 'S':
		return num(t.Second(), 2)
	case 'j':
		return num(t.YearDay(), 3)
	case 'p':
		return t.Format("PM")
	case 'B':
		return t.Month().String()
	case 'b', 'h':
		return t.Month().String()[:3]
	case 'A':
		return t.Weekday().String()
	case 'a':
		return t.Weekday().String()[:3]
	case '%':
		return "%"
	}
	return "%" + string(verb)
}
