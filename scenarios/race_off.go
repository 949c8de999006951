//go:build !race

package scenarios

// raceFactor scales memory budgets for a binary built with -race (1: not).
const raceFactor = 1
