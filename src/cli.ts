import { Command } from 'commander'
import { ocpiCommands } from './cli/ocpi.ts'
import { oicpCommands } from './cli/oicp.ts'
import { opcpCommands } from './cli/opcp.ts'
import { orgCommands } from './cli/org.ts'
import { pkiCommands } from './cli/pki.ts'
import { serveCommands } from './cli/serve.ts'
import { simCommands } from './cli/sim.ts'
import { VERSION } from './version.ts'

// The openpnc command: one file per group of commands under cli/.
const program = new Command('openpnc').description('openpnc: Plug&Charge platform for e-mobility operators').version(VERSION)
serveCommands(program)
orgCommands(program)
ocpiCommands(program)
oicpCommands(program)
opcpCommands(program)
pkiCommands(program)
simCommands(program)

program.parseAsync().catch((error: Error) => {
  process.stderr.write(`openpnc: ${error.message}\n`)
  process.exit(1)
})
