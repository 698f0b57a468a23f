package webhookserver

// ProcessCPU gives the external benchmarks processCPU.
var ProcessCPU = processCPU
