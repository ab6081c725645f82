import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  /** Prefix of every file of this PKI, so several PKIs can share one directory. */
  name: string;
  caFile: string;
  caPem: string;
  caKeyFile: string;
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

const VALIDITY_DAYS = '2';

// `req` refuses to run without a distinguished_name section, even when -subj gives the subject.
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

/**
 * Creates a fresh CA (EC P-256) and a server certificate it signs for 127.0.0.1, ::1 and localhost,
 * both valid for two days. Files are named `<name>-ca.crt`, `<name>-server.crt`, ... inside `dir`.
 */
export async function createPki(dir: string, name = 'apiserver'): Promise<Pki> {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`PKI name must be usable as a file name prefix: ${name}`);
  const config = configFile(dir, name);
  await writeFile(config, OPENSSL_CONFIG);

  const caFile = join(dir, `${name}-ca.crt`);
  const caKeyFile = join(dir, `${name}-ca.key`);
  await issue({ config, subject: `/CN=${name}-ca`, extensions: 'ca_ext', certFile: caFile, keyFile: caKeyFile });

  const certFile = join(dir, `${name}-server.crt`);
  const keyFile = join(dir, `${name}-server.key`);
  const signer = { caFile, caKeyFile };
  await issue({ config, subject: `/CN=${name}-server`, extensions: 'server_ext', certFile, keyFile, signer });

  const [caPem, certPem, keyPem] = await Promise.all([readPem(caFile), readPem(certFile), readPem(keyFile)]);
  return { dir, name, caFile, caPem, caKeyFile, certPem, keyPem, certFile, keyFile };
}

/** Issues a client certificate signed by the PKI's CA; `organization` becomes the O (Kubernetes group). */
export async function issueClientCert(pki: Pki, commonName: string, organization?: string): Promise<IssuedCert> {
  const stem = join(pki.dir, `${pki.name}-client-${commonName.replace(/[^\w.-]/g, '_')}`);
  const certFile = `${stem}.crt`;
  const keyFile = `${stem}.key`;
  const subject = `/CN=${escapeRdn(commonName)}${organization === undefined ? '' : `/O=${escapeRdn(organization)}`}`;
  await issue({
    config: configFile(pki.dir, pki.name),
    subject,
    extensions: 'client_ext',
    certFile,
    keyFile,
    signer: { caFile: pki.caFile, caKeyFile: pki.caKeyFile },
  });
  const [certPem, keyPem] = await Promise.all([readPem(certFile), readPem(keyFile)]);
  return { certPem, keyPem, certFile, keyFile };
}

interface IssueRequest {
  config: string;
  subject: string;
  extensions: 'ca_ext' | 'server_ext' | 'client_ext';
  certFile: string;
  keyFile: string;
  /** Without a signer the certificate is self-signed. */
  signer?: { caFile: string; caKeyFile: string };
}

/** One `openssl req -x509` call generates the key and the certificate (OpenSSL 3 can sign with -CA). */
async function issue(request: IssueRequest): Promise<void> {
  const signerArgs = request.signer ? ['-CA', request.signer.caFile, '-CAkey', request.signer.caKeyFile] : [];
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-noenc',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-keyout',
    request.keyFile,
    '-out',
    request.certFile,
    '-days',
    VALIDITY_DAYS,
    '-subj',
    request.subject,
    '-config',
    request.config,
    '-extensions',
    request.extensions,
    ...signerArgs,
  ]);
}

function readPem(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

function configFile(dir: string, name: string): string {
  return join(dir, `${name}-openssl.cnf`);
}

/** `-subj` separates RDNs with `/` and multi-valued RDNs with `+`; a backslash escapes them. */
function escapeRdn(value: string): string {
  return value.replace(/[\\/+]/g, (character) => `\\${character}`);
}
