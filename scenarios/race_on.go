//go:build race

package scenarios

// raceFactor scales memory budgets for a binary built with -race: the
// race detector's shadow memory grows a process's resident set with every
// byte it touches.
const raceFactor = 3
