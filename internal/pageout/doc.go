// Package pageout gives back the memory that a Go binary's start-up
// leaves resident and never touches again: the pages of its own code and
// read-only data that package initialisation read (client-go's scheme,
// the cloud SDKs' protobuf and API tables) and that the first pass ran
// through.
//
// Those pages are clean and file-backed, so the kernel can reclaim them
// at once (madvise MADV_PAGEOUT, Linux 5.4 and later) and read back the
// few a later call needs. For omsecrets, whose binary carries five cloud
// SDKs of which a deployment uses one, that is most of its resident set:
// holding 500 definitions, about 34 MiB of file pages before, about 1.5
// MiB after. Anonymous memory (the heap, stacks) is not touched.
package pageout
