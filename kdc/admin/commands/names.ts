/**
 * Local checks of names given on the command line, so a typo is explained precisely before
 * anything is sent (the KDC's answer would be only a code).
 */
import { isGroupName, isPrincipalName, isReservedPrincipal, isScope } from '../../protocol/index.js'
import { usageError } from '../errors.js'

const NAME_RULE = '1-63 characters a-z 0-9 . _ -, starting with a lower-case letter'

/** A principal name argument. */
export function principalArg(name: string): string {
  if (!isPrincipalName(name)) {
    throw usageError(
      `invalid principal name ${JSON.stringify(name)}`,
      `principal names are ${NAME_RULE}, e.g. orders or billing-api`,
    )
  }
  return name
}

/** A principal name that admin writes may touch: not krbtgt or kadmin. */
export function writablePrincipalArg(name: string, action: string): string {
  principalArg(name)
  if (isReservedPrincipal(name)) {
    throw usageError(
      `cannot ${action} ${name}: the name is reserved for the KDC itself`,
      'krbtgt (the ticket-granting service) and kadmin (the admin service) are managed by the KDC; pick another name',
    )
  }
  return name
}

/** A group name argument. */
export function groupArg(group: string): string {
  if (!isGroupName(group)) {
    throw usageError(
      `invalid group name ${JSON.stringify(group)}`,
      `group names are ${NAME_RULE}, e.g. admins or payments-team`,
    )
  }
  return group
}

/** A scope argument. */
export function scopeArg(scope: string): string {
  if (!isScope(scope)) {
    throw usageError(
      `invalid scope ${JSON.stringify(scope)}`,
      'scopes are 1-64 characters of A-Z a-z 0-9 : . _ / * -, starting with a letter or digit, e.g. orders:read',
    )
  }
  return scope
}
