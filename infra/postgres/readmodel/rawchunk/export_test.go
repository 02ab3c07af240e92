package rawchunk

// MaxDecodeAlloc is maxDecodeAlloc for the fuzz tests.
const MaxDecodeAlloc = maxDecodeAlloc
