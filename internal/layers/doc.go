// Package layers holds no code: its test checks that imports run one way across the module, so the
// package lines the design draws stay true as the code changes.
package layers
