// A throwaway PKI for tests of mutual TLS, made with the `openssl` command (no new dependency):
// certificate authorities, a server certificate for 127.0.0.1 and localhost, and client
// certificates, all EC P-256 and valid for a day, in a temporary directory removed by `remove()`.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Issued {
  certPath: string
  keyPath: string
  cert: Buffer
  key: Buffer
}

export interface Authority extends Issued {
  name: string
}

export class ThrowawayPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'openpnc-pki-'))

  private openssl(...args: string[]) {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] })
  }

  private read(name: string): Issued {
    const certPath = join(this.dir, `${name}.crt`)
    const keyPath = join(this.dir, `${name}.key`)
    return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) }
  }

  /** A self-signed certificate authority. */
  authority(name: string): Authority {
    this.openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    )
    return { name, ...this.read(name) }
  }

  /** A certificate signed by `ca`: for a server (127.0.0.1 and localhost) or a client. */
  issue(ca: Authority, name: string, use: 'server' | 'client'): Issued {
    this.openssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    )
    const extensions =
      use === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n'
    writeFileSync(join(this.dir, `${name}.ext`), `basicConstraints=CA:FALSE\n${extensions}`)
    this.openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca.name}.crt`,
      '-CAkey',
      `${ca.name}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    )
    return this.read(name)
  }

  remove() {
    rmSync(this.dir, { recursive: true, force: true })
  }
}
