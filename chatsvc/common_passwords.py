"""Passwords of 8+ bytes that top the public breach lists (compared ignoring case): refused for new passwords.

A small bundled list, not a breach database: it stops the guesses every credential-stuffing run tries first
(OWASP ASVS 6.2.4 / NIST SP 800-63B "commonly used" passwords) without a download or a network call.
"""

from __future__ import annotations

COMMON_PASSWORDS = frozenset("""
password password1 password12 password123 password1234 passw0rd p@ssword p@ssw0rd password! passwort
12345678 123456789 1234567890 12345678910 0123456789 87654321 987654321 9876543210 11111111 00000000
22222222 55555555 66666666 77777777 88888888 99999999 12341234 11223344 12344321 11112222 123123123
qwertyui qwertyuiop qwerty12 qwerty123 qwerty1234 1qaz2wsx 1q2w3e4r 1q2w3e4r5t q1w2e3r4 q1w2e3r4t5 qazwsxedc
zaq12wsx 12qwaszx 1234qwer qwer1234 asdf1234 abcd1234 abc12345 abcdefgh aaaaaaaa asdfghjk asdfghjkl
zxcvbnm1 zxcvbnmm iloveyou iloveyou1 iloveyou2 sunshine sunshine1 princess princess1 football football1
baseball baseball1 basketball welcome1 welcome123 welcome! trustno1 superman superman1 batman12 batman123
michael1 jennifer michelle starwars starwars1 whatever whatever1 computer internet shadow12 monkey123
dragon12 dragon123 master12 master123 letmein1 letmein! letmein123 admin123 admin1234 administrator
changeme changeme1 default1 secret12 secret123 test1234 testtest test12345 guest123 user1234 login123
root1234 toor1234 samsung1 google123 matrix12 liverpool chelsea1 arsenal1 pokemon1 minecraft hello123
freedom1 charlie1 jordan23 soccer12 hockey12 summer12 summer2024 summer2025 summer2026 winter2024
winter2025 winter2026 spring2025 autumn2025 january1 december1 loveyou1 lovelove mustang1 harley12
ranger12 buster12 tigger12 pepper12 ginger12 chocolate cookie12 cheese12 flower12 butterfly purple12
orange12 yankees1 cowboys1 eagles12 steelers thunder1 killer12 hunter12 hunter123 fuckyou1 666666666
qwerty11 azertyui azerty123 000000000 111111111 1111111111 147258369 159753456 741852963 789456123
passpass pass1234 abc123456 a1b2c3d4 a12345678 aa123456 qq123456 zz123456 123456aa 123456qwerty
""".split())
