package game

import (
	"reflect"
	"testing"
)

func TestJudge(t *testing.T) {
	cases := []struct{ a, b, want int }{
		{Rock, Scissors, 1}, {Scissors, Rock, -1},
		{Paper, Rock, 1}, {Rock, Paper, -1},
		{Scissors, Paper, 1}, {Paper, Scissors, -1},
		{Rock, Rock, 0}, {Paper, Paper, 0}, {Scissors, Scissors, 0},
		{NoChoice, Rock, -1}, {Paper, NoChoice, 1}, {NoChoice, NoChoice, 0},
	}
	for _, c := range cases {
		if got := Judge(c.a, c.b); got != c.want {
			t.Errorf("Judge(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestScore(t *testing.T) {
	cases := []struct {
		name  string
		in    Standing
		x     int
		round int
		out   Standing
	}{
		{"first win", Standing{0, 0}, 1, 1, Standing{1, 1}},
		{"second win in a row doubles", Standing{1, 1}, 1, 2, Standing{3, 2}},
		{"third win triples", Standing{3, 2}, 1, 3, Standing{6, 3}},
		{"a loss ends the streak", Standing{6, 3}, -1, 0, Standing{6, 0}},
		{"a tie keeps the streak", Standing{6, 3}, 0, 0, Standing{6, 3}},
		{"two wins at once", Standing{0, 2}, 2, 6, Standing{6, 3}},
	}
	for _, c := range cases {
		round, out := Score(c.in, c.x)
		if round != c.round || out != c.out {
			t.Errorf("%s: Score(%+v, %d) = %d, %+v; want %d, %+v", c.name, c.in, c.x, round, out, c.round, c.out)
		}
	}
}

func TestRound(t *testing.T) {
	scores, next := Round([]int{Rock, Scissors}, []Standing{{2, 1}, {5, 3}})
	if !reflect.DeepEqual(scores, []int{2, 0}) || !reflect.DeepEqual(next, []Standing{{4, 2}, {5, 0}}) {
		t.Fatalf("rock vs scissors: %v %v", scores, next)
	}
	scores, next = Round([]int{NoChoice, NoChoice}, []Standing{{1, 1}, {0, 0}})
	if !reflect.DeepEqual(scores, []int{0, 0}) || !reflect.DeepEqual(next, []Standing{{1, 1}, {0, 0}}) {
		t.Fatalf("both missing: %v %v", scores, next)
	}
	if ValidChoice(0) || ValidChoice(4) || !ValidChoice(Paper) {
		t.Fatal("ValidChoice")
	}
}
