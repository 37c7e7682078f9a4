// Package errors is syncflow's error taxonomy: the one place that decides what
// a failure means (DESIGN.md §3).
//
// Every failure is one of five classes. Each class has a wire-stable Temporal
// error type string; activities return *temporal.ApplicationError values built
// by ToApplicationError, and workflows read the class back with ClassOf.
//
// The package is imported under an alias (conventionally sferrors) so that it
// does not shadow the standard library's errors package.
package errors
