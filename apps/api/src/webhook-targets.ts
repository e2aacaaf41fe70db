/**
 * Which webhook URLs a tenant may register (CONTRACT.md "Webhook targets"). Checked without DNS, on
 * the URL as the WHATWG parser reads it: the parser already turns every spelling of an IPv4 host
 * (decimal `2130706433`, hex `0x7f.1`, octal `0177.0.0.1`, short `127.1`) into its dotted form and
 * normalises IPv6 literals, and `ipaddr.js` classifies the address (IPv4-mapped IPv6 is read as the
 * IPv4 address it carries). Refused: credentials in the URL; hosts on the fixed list of internal
 * names; literal addresses outside the ordinary unicast range (loopback, RFC 1918, CGNAT,
 * link-local, unique-local, unspecified, multicast, broadcast, reserved and the like), unless they
 * lie in one of the operator's allowed networks (`WALLET_WEBHOOK_ALLOWED_NETWORKS`).
 *
 * A host name passes here and is checked again at send time, on the address actually connected to
 * (see jobs/webhook-sender.ts), so a name that resolves inside is refused there.
 */
import ipaddr from 'ipaddr.js';

/** Networks an operator lets through on purpose, each in CIDR form (`127.0.0.0/8`, `::1/128`). */
export type AllowedNetworks = readonly string[];

/**
 * Parses `WALLET_WEBHOOK_ALLOWED_NETWORKS`: comma-separated CIDRs or single addresses (a single
 * address is its own /32 or /128). Returns them in normal CIDR form; throws on anything else.
 */
export function parseAllowedNetworks(text: string | undefined): string[] {
  if (!text?.trim()) return [];
  return text.split(',').map((part) => {
    const entry = part.trim();
    try {
      const [address, bits] = entry.includes('/')
        ? ipaddr.parseCIDR(entry)
        : ((a) => [a, a.kind() === 'ipv4' ? 32 : 128] as const)(ipaddr.parse(entry));
      return `${address.toString()}/${bits}`;
    } catch {
      throw new Error(`"${entry}" is not an IP network in CIDR form (for example 10.0.0.0/8 or ::1/128)`);
    }
  });
}

/** Internal host names: refused whatever they resolve to. */
function isInternalName(hostname: string): boolean {
  const name = hostname.replace(/\.+$/, '');
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name === 'metadata' ||
    name === 'metadata.google.internal' ||
    name === 'internal' ||
    name.endsWith('.internal')
  );
}

function inNetworks(address: ipaddr.IPv4 | ipaddr.IPv6, networks: AllowedNetworks): boolean {
  return networks.some((network) => {
    const cidr = ipaddr.parseCIDR(network);
    return cidr[0].kind() === address.kind() && address.match(cidr);
  });
}

/** Whether an address is one webhooks may reach: ordinary unicast, or in an allowed network. */
export function isAllowedAddress(address: string, networks: AllowedNetworks): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.parse(address);
  // An IPv4-mapped IPv6 address reaches the IPv4 address it carries.
  const effective = parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
  return inNetworks(parsed, networks) || inNetworks(effective, networks) || effective.range() === 'unicast';
}

/** Why a webhook URL is refused, or null when it may be registered. */
export function webhookUrlRefusal(url: string, networks: AllowedNetworks): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http or https URL';
  if (parsed.username || parsed.password) return 'must not carry a user name or password';
  const host = parsed.hostname.toLowerCase();
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (ipaddr.isValid(literal) && (literal.includes(':') || ipaddr.IPv4.isValidFourPartDecimal(literal))) {
    return isAllowedAddress(literal, networks) ? null : `${literal} is a private, loopback or otherwise internal address`;
  }
  if (isInternalName(host)) return `${host} is an internal host name`;
  return null;
}
