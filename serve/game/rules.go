package game

// Choices, as the original client numbers them.
const (
	NoChoice = 0
	Scissors = 1
	Rock     = 2
	Paper    = 3
)

// ValidChoice reports whether c is scissors, rock or paper.
func ValidChoice(c int) bool { return c >= Scissors && c <= Paper }

// Judge compares two choices: +1 when a beats b, -1 when b beats a, 0 for a tie. A missing choice
// loses; two missing choices tie.
func Judge(a, b int) int {
	switch {
	case a == b:
		return 0
	case a == NoChoice:
		return -1
	case b == NoChoice:
		return 1
	case (a-b+3)%3 == 1:
		return 1
	default:
		return -1
	}
}

// Standing is what a player carries from round to round.
type Standing struct {
	TotalScore int
	WinStreak  int
}

// Score applies one round to a player: x is the sum of Judge against every other player. A positive
// x extends the streak and scores x times it; a negative x scores nothing and ends the streak; a tie
// scores nothing and keeps the streak.
func Score(s Standing, x int) (roundScore int, next Standing) {
	switch {
	case x > 0:
		s.WinStreak++
		roundScore = x * s.WinStreak
	case x < 0:
		s.WinStreak = 0
	}
	s.TotalScore += roundScore
	return roundScore, s
}

// Round scores every player of a round from their choices.
func Round(choices []int, standings []Standing) (roundScores []int, next []Standing) {
	roundScores = make([]int, len(choices))
	next = make([]Standing, len(choices))
	for i, c := range choices {
		x := 0
		for j, o := range choices {
			if i != j {
				x += Judge(c, o)
			}
		}
		roundScores[i], next[i] = Score(standings[i], x)
	}
	return roundScores, next
}
