import { readFileSync } from 'node:fs'

/** The package's version, as `package.json` names it (the CLI's --version, the start-up log). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version
