// The test OEM PKI lives beside the OPCP simulator, which issues its vehicles' provisioning
// certificates with it; tests and the benchmark keep importing it from here.
export * from '../src/sim/opcp/oem-pki.ts'
