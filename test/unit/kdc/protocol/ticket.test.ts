import { describe, it, expect } from 'vitest'
import { buildAad, OBJ } from '../../../../kdc/protocol/aead.js'
import {
  deriveKey,
  encode,
  LABELS,
  MAX_SEALED_BYTES,
  openTicket,
  sealTicket,
  ticketAad,
  TICKET_FLAGS,
  toHex,
  type EncTicketPart,
  type Ticket,
} from '../../../../kdc/protocol/index.js'
import { sealPart } from '../../../../kdc/protocol/sealed-part.js'
import { expectCode } from './expect-code.js'
import {
  encTicketPart,
  fixedNonce,
  otherKey,
  serviceKey,
  ticketHeader,
  ticketSubkey,
} from './fixtures.js'

function wire(p: EncTicketPart): unknown[] {
  return [
    p.flags,
    p.sessionKey,
    p.client,
    p.authTime,
    p.startTime,
    p.endTime,
    [...p.scopes],
    p.policyVersion,
    p.ticketId,
    p.kdcCheck,
  ]
}

describe('tickets (docs/protocol.md §5.2)', () => {
  it('seals [realm, service, kvno, sealed] and opens it back', () => {
    const ticket = sealTicket(ticketSubkey, ticketHeader, encTicketPart, fixedNonce)
    expect(ticket.realm).toBe('TESSERA.LOCAL')
    expect(ticket.service).toBe('orders')
    expect(ticket.kvno).toBe(3)
    expect(openTicket(ticket, ticketSubkey)).toEqual(encTicketPart)
  })

  it('has a 167-byte plaintext for the fixture: sealed = 24 + 167 + 16 bytes', () => {
    const plaintext = encode(wire(encTicketPart) as never)
    expect(plaintext.length).toBe(167)
    const ticket = sealTicket(ticketSubkey, ticketHeader, encTicketPart, fixedNonce)
    expect(ticket.sealed.length).toBe(24 + 167 + 16)
  })

  it('binds the AAD context [realm, service, kvno]', () => {
    expect(toHex(ticketAad(ticketHeader))).toBe(
      toHex(buildAad(OBJ.TICKET, ['TESSERA.LOCAL', 'orders', 3])),
    )
    const ticket = sealTicket(ticketSubkey, ticketHeader, encTicketPart, fixedNonce)
    const variants: Ticket[] = [
      { ...ticket, kvno: 4 },
      { ...ticket, service: 'billing' },
      { ...ticket, realm: 'OTHER.REALM' },
    ]
    for (const t of variants) {
      expectCode(() => openTicket(t, ticketSubkey), 'ERR_AP_BAD_INTEGRITY', 'TAG')
    }
  })

  it('opens only with the ticket subkey of the right key (no raw key, no other label)', () => {
    const ticket = sealTicket(ticketSubkey, ticketHeader, encTicketPart)
    expectCode(() => openTicket(ticket, serviceKey), 'ERR_AP_BAD_INTEGRITY', 'TAG')
    expectCode(
      () => openTicket(ticket, deriveKey(serviceKey, LABELS.authenticator)),
      'ERR_AP_BAD_INTEGRITY',
    )
    expectCode(() => openTicket(ticket, deriveKey(otherKey, LABELS.ticket)), 'ERR_AP_BAD_INTEGRITY')
  })

  it('accepts a kdcCheck of up to 64 bytes (reserved, §5.2.1)', () => {
    const part = { ...encTicketPart, kdcCheck: new Uint8Array(64).fill(1) }
    const ticket = sealTicket(ticketSubkey, ticketHeader, part)
    expect(openTicket(ticket, ticketSubkey).kdcCheck.length).toBe(64)
  })

  it('sets INITIAL = 1 on TGTs', () => {
    expect(TICKET_FLAGS.INITIAL).toBe(1)
  })

  describe('an authentic seal of an invalid plaintext is still ERR_AP_BAD_INTEGRITY (PLAINTEXT)', () => {
    const aad = ticketAad(ticketHeader)
    const good = wire(encTicketPart)
    const cases: [string, unknown][] = [
      ['nine fields', good.slice(0, 9)],
      ['eleven fields', [...good, 0]],
      ['a 31-byte session key', [good[0], new Uint8Array(31), ...good.slice(2)]],
      ['a bad client name', [good[0], good[1], 'Payments', ...good.slice(3)]],
      ['unsorted scopes', [...good.slice(0, 6), ['b', 'a'], ...good.slice(7)]],
      ['duplicate scopes', [...good.slice(0, 6), ['a', 'a'], ...good.slice(7)]],
      ['a 15-byte ticket id', [...good.slice(0, 8), new Uint8Array(15), good[9]]],
      ['a 65-byte kdcCheck', [...good.slice(0, 9), new Uint8Array(65)]],
      ['a string where a time is expected', [good[0], good[1], good[2], 'now', ...good.slice(4)]],
      ['not an array', 7],
    ]
    it.each(cases)('%s', (_label, plaintext) => {
      const sealed = sealPart(ticketSubkey, aad, plaintext as never, fixedNonce)
      expectCode(
        () => openTicket({ ...ticketHeader, sealed }, ticketSubkey),
        'ERR_AP_BAD_INTEGRITY',
        'PLAINTEXT',
      )
    })
  })

  it('refuses a sealed part longer than MAX_SEALED_BYTES before opening', () => {
    const sealed = new Uint8Array(MAX_SEALED_BYTES + 1)
    expectCode(
      () => openTicket({ ...ticketHeader, sealed }, ticketSubkey),
      'ERR_AP_BAD_INTEGRITY',
      'SEALED_LENGTH',
    )
  })
})
